"""``storyrec rebuild --dataset-group NEW [--finish]``: a group rebuilt from the backup, its campaign, the switch."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, EXIT_USAGE, Json, console, fail, load_settings, print_json
from shared.config import Settings
from shared.errors import ConfigError, StoryrecError
from shared.operate.bootstrap import DEFAULT_CONFIG, check_against_settings, load_config
from shared.operate.rebuild import Rebuild, RebuildRefused, RebuildResult, check_target, run_rebuild
from shared.operate.switch import Prepared, config_json, finish_switch, newest_served, prepare_switch
from shared.personalize.stage import StageDeps

Group = Annotated[str, typer.Option("--dataset-group", help="Name of the NEW dataset group (not the one in use).")]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1.0, help="Seconds to wait for each dataset, import, training and campaign.")
]
Finish = Annotated[
    bool,
    typer.Option(
        "--finish",
        help="After deploying the settings the rebuild wrote: check feeds come from NEW, delete the old campaign.",
    ),
]
Out = Annotated[
    Path | None, typer.Option("--out", help="Folder for the settings to deploy. Default: ./rebuild-<NEW>/.")
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="Resources file. Default: infra/personalize/resources.json.")
]


def _job(settings: Settings, deps: StageDeps, group: str, timeout: float) -> Rebuild:
    return Rebuild(
        port=deps.personalize,
        backup=wiring.backup_store(settings),
        staging=deps.bucket,  # the import bucket, where the stage's state lives too
        group=group,
        prefix=settings.import_prefix,
        role_arn=settings.personalize.import_role_arn,
        settle_timeout=timeout,
    )


def rebuild(
    dataset_group: Group,
    finish: Finish = False,
    out: Out = None,
    config: ConfigFile = None,
    json_: Json = False,
    timeout: Timeout = 7200.0,
) -> None:
    """Move to a new dataset group rebuilt from the backup bucket's export history, with no serving downtime.

    Needed when the interactions schema gained columns (Personalize cannot replace an interactions
    schema; `storyrec bootstrap` says so). With the settings in use: checks and stages every export of
    the backup, imports it into NEW, creates NEW's solutions and filter, trains, checks the version with
    the promotion rule, creates NEW's campaign and waits until it is ACTIVE and answers, then writes the
    settings to deploy (<out>/settings.env, resources.json, serverless-params.txt). The old campaign keeps
    serving. After deploying them, with the new settings loaded: `--finish` imports any export made
    meanwhile, checks that the newest feeds come from NEW and deletes the old campaign.
    Every step is idempotent: rerun the same command to resume. docs/deploy.md §2.3.
    Exit codes: 0 done, 1 refused or failed (the old campaign still serves), 2 bad name or settings.
    """
    settings = load_settings()
    say = None if json_ else console.print
    deps = replace(wiring.stage_deps(settings), settle_timeout=timeout)
    job = _job(settings, deps, dataset_group, timeout)
    try:
        if finish:
            docs = wiring.document_store(settings)
            done = finish_switch(job, deps, newest_served(docs, settings.collections), progress=say)
        else:
            check_target(dataset_group, settings.personalize.dataset_group)
            resources = load_config(config or DEFAULT_CONFIG)
            check_against_settings(resources, settings)
            result = run_rebuild(job, current_group=settings.personalize.dataset_group, progress=say)
            prepared = prepare_switch(job, deps, resources, result=result, progress=say)
    except ConfigError as exc:
        fail(f"rebuild refused: {exc}", EXIT_USAGE)
    except RebuildRefused as exc:
        fail(f"rebuild refused: {exc}", EXIT_FAILED)
    except StoryrecError as exc:
        fail(f"rebuild failed: {exc} (the old campaign still serves; rerun the same command to resume)", EXIT_FAILED)
    if finish:
        body = {
            "campaign": done.campaign_arn,
            "solution_version": done.version_arn,
            "retired": done.retired,
            "served_at": done.served_at,
        }
        if json_:
            print_json(body)
            return
        retired = f"old campaign {done.retired} deleted" if done.retired else "no old campaign left to delete"
        console.print(f"{dataset_group} serves: feeds come from {done.version_arn}; {retired}")
        return
    folder = out or Path(f"rebuild-{dataset_group}")
    _write_settings(folder, prepared)
    if json_:
        print_json(_summary(result, prepared, folder))
        return
    rows = {s.dataset: s.rows for s in result.staged}
    console.print(
        f"{result.group_arn}: {rows['interactions']} of {result.interactions_in_manifests} interactions from "
        f"{result.manifests} export(s) imported, {rows['items']} items, {rows['users']} users"
    )
    console.print(
        f"campaign {prepared.campaign_arn} ACTIVE with {prepared.version_arn} ({prepared.decision.reasons[0]})"
    )
    console.print(
        f"next: deploy the settings in {folder}/ (settings.env into functions_gcp/.env.<project> and your shell, "
        f"serverless-params.txt to `serverless deploy`, resources.json over infra/personalize/resources.json), then "
        f"`storyrec rebuild --dataset-group {dataset_group} --finish`. The old campaign serves until then."
    )


def _write_settings(folder: Path, prepared: Prepared) -> None:
    """The exact settings to deploy; rewritten identically by a rerun."""
    folder.mkdir(parents=True, exist_ok=True)
    env = "".join(f"{k}={v}\n" for k, v in prepared.new.env().items())
    (folder / "settings.env").write_text(env, encoding="utf-8")
    params = " ".join(f'--param="{k}={v}"' for k, v in prepared.new.serverless_params().items())
    (folder / "serverless-params.txt").write_text(params + "\n", encoding="utf-8")
    (folder / "resources.json").write_text(json.dumps(config_json(prepared.config), indent=2) + "\n", encoding="utf-8")


def _summary(result: RebuildResult, prepared: Prepared, folder: Path) -> dict[str, object]:
    return {
        "dataset_group": result.group_arn,
        "manifests": result.manifests,
        "interactions_in_manifests": result.interactions_in_manifests,
        "rows": {s.dataset: s.rows for s in result.staged},
        "jobs": result.jobs,
        "campaign": prepared.campaign_arn,
        "solution_version": prepared.version_arn,
        "old_campaign": prepared.old_campaign_arn,
        "settings": prepared.new.env(),
        "out": str(folder),
    }


def register(app: typer.Typer) -> None:
    """Add ``rebuild`` to the operator CLI."""
    app.command("rebuild")(rebuild)
