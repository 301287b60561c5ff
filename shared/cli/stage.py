"""``storyrec import | train | promote``: the AWS stage's use cases, run by hand.

The same functions the Lambdas run (``shared.personalize``), on the same state, so a manual run and a
scheduled one never disagree: a repeated import finds the jobs already started, a training run of
the same name finds its versions, and a promotion is recorded in the decision history.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict
from typing import Annotated

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, EXIT_USAGE, Json, console, fail, load_settings, print_json
from shared.errors import StoryrecError
from shared.manifest import manifest_keys, manifests_prefix
from shared.operate.promote import PromotionRefused, promote_by_hand
from shared.personalize.imports import import_manifest
from shared.personalize.names import training_name
from shared.personalize.training import failed_versions, train, training_data_problem
from shared.ports import ObjectStore

ManifestKey = Annotated[
    str | None,
    typer.Argument(help="S3 key of an export manifest (…/manifests/dt=YYYY-MM-DD/manifest.json). Default: the latest."),
]
RunName = Annotated[
    str | None,
    typer.Option("--name", help="Solution versions' name. Default: storyrec-manual-<UTC minute> (a rerun reuses it)."),
]
Version = Annotated[
    str | None,
    typer.Option("--version", help="Solution version ARN to serve. Default: the version the monitor held."),
]


def latest_manifest(store: ObjectStore, prefix: str) -> str | None:
    """The newest manifest key in the import bucket (by the date in its key)."""
    keys = manifest_keys(store, prefix)
    return keys[-1] if keys else None


def import_(manifest_key: ManifestKey = None, json_: Json = False) -> None:
    """Start the Personalize import jobs of one export manifest (the import Lambda's use case).

    Exit codes: 0 started (or already started, or parked until a slot frees), 1 refused or not found,
    2 configuration.
    """
    settings = load_settings()
    deps = wiring.stage_deps(settings)
    key = manifest_key or latest_manifest(deps.bucket, settings.import_prefix)
    if key is None:
        where = manifests_prefix(settings.import_prefix)
        fail(f"no export manifest in s3://{settings.import_bucket}/{where}: run `storyrec export` first", EXIT_FAILED)
    try:
        with console.status(f"importing {key}", spinner="dots"):
            outcome = import_manifest(key, deps)
    except StoryrecError as exc:
        fail(f"import failed: {exc}", EXIT_FAILED)
    refused = outcome.skipped.get("*")
    if json_:
        print_json(asdict(outcome))
    else:
        console.print(f"manifest {key} (run {outcome.run_id or '-'})")
        for name in outcome.started:
            console.print(f"  started  {name}")
        for name in outcome.existing:
            console.print(f"  existing {name}")
        for name, why in outcome.skipped.items():
            console.print(f"  skipped  {name}: {why}")
        if outcome.parked:
            console.print(f"  parked: {outcome.parked} (the monitor starts the rest)", style="yellow")
    if refused:
        raise typer.Exit(EXIT_FAILED)


def train_(name: RunName = None, json_: Json = False) -> None:
    """Start new FULL solution versions of the serving and baseline solutions (the train Lambda's use case).

    Refused before anything is created when the exported interactions are below Personalize's minimums
    (1,000 interactions; 25 users with at least 2 each), counted from the export manifests.
    Exit codes: 0 started (or found running under this name), 1 refused, failed (a rerun found the
    versions of this name failed) or deferred (imports pending or Personalize busy: the monitor
    starts it later), 2 configuration.
    """
    settings = load_settings()
    deps = wiring.stage_deps(settings)
    run = name or training_name("storyrec-manual", f"{deps.clock():%Y%m%d%H%M}")
    try:
        problem = training_data_problem(deps)
        if problem:
            fail(f"training refused: {problem}", EXIT_FAILED)
        outcome = train(deps, run)
        failed = failed_versions(deps, outcome)
    except StoryrecError as exc:
        fail(f"training failed: {exc}", EXIT_FAILED)
    if json_:
        print_json({**asdict(outcome), "failed": failed})
    elif outcome.deferred:
        console.print(f"training {run} deferred: {outcome.deferred}; the monitor starts it later", style="yellow")
    else:
        for role, arn in outcome.versions.items():
            state = f"FAILED: {failed[role]}" if role in failed else "started"
            console.print(f"{role:<9} {state:<8} {arn}")
        if outcome.slot:
            console.print(f"slot      {outcome.slot}")
    if failed:
        fail(f"training {run} failed (rerun with another --name after fixing the cause)", EXIT_FAILED)
    if outcome.deferred:
        raise typer.Exit(EXIT_FAILED)


def promote(version: Version = None, json_: Json = False) -> None:
    """Serve a solution version now: UpdateCampaign (CreateCampaign the first time), recorded in the history.

    The manual path of the promotion decision (STORYREC_PROMOTION_MODE=manual holds better versions
    for this). Refused unless the version is ACTIVE, not already serving, and the campaign is idle.
    Exit codes: 0 promoted, 1 refused or failed, 2 configuration.
    """
    settings = load_settings()
    if version is not None and not version.startswith("arn:"):
        fail(f"--version {version!r} is not a solution version ARN", EXIT_USAGE)
    deps = wiring.stage_deps(settings)
    try:
        result = promote_by_hand(deps, version, operator=getpass.getuser())
    except PromotionRefused as exc:
        fail(f"promotion refused: {exc}", EXIT_FAILED)
    except StoryrecError as exc:
        fail(f"promotion failed: {exc}", EXIT_FAILED)
    if json_:
        print_json(asdict(result))
    else:
        console.print(f"{result.outcome}\nrecorded in the decision history of {result.version_arn}")


def register(app: typer.Typer) -> None:
    """Add ``import``, ``train`` and ``promote`` to the operator CLI."""
    app.command("import")(import_)
    app.command("train")(train_)
    app.command("promote")(promote)
