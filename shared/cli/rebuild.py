"""``storyrec rebuild --dataset-group NEW``: a new dataset group with the current schemas, history from the backup."""

from __future__ import annotations

from typing import Annotated

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, EXIT_USAGE, Json, console, fail, load_settings, print_json
from shared.errors import ConfigError, StoryrecError
from shared.operate.rebuild import Rebuild, run_rebuild

Group = Annotated[str, typer.Option("--dataset-group", help="Name of the NEW dataset group (not the one in use).")]
Timeout = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to wait for each dataset and import job.")]


def rebuild(dataset_group: Group, json_: Json = False, timeout: Timeout = 7200.0) -> None:
    """Rebuild the Personalize datasets in a new dataset group from the export history in the backup bucket.

    Needed when the interactions schema gained columns (Personalize cannot replace an interactions
    schema; `storyrec bootstrap` says so). Reads every manifest and part of the backup, checks them,
    stages them with the current columns in the import bucket, creates the group, schemas and datasets,
    and imports (one job per dataset). A rerun resumes. Then switch the functions to the new group
    (docs/deploy.md, "Rebuilding a dataset group").
    Exit codes: 0 done, 1 refused or failed (nothing lost: the backup is only read), 2 bad name.
    """
    settings = load_settings()
    job = Rebuild(
        port=wiring.personalize(settings),
        backup=wiring.backup_store(settings),
        staging=wiring.import_store(settings),
        group=dataset_group,
        prefix=settings.import_prefix,
        role_arn=settings.personalize.import_role_arn,
        settle_timeout=timeout,
    )
    say = None if json_ else console.print
    try:
        result = run_rebuild(job, current_group=settings.personalize.dataset_group, progress=say)
    except ConfigError as exc:
        fail(f"rebuild refused: {exc}", EXIT_USAGE)
    except StoryrecError as exc:
        fail(f"rebuild failed: {exc} (rerun the same command to resume)", EXIT_FAILED)
    rows = {s.dataset: s.rows for s in result.staged}
    if json_:
        print_json(
            {
                "dataset_group": result.group_arn,
                "manifests": result.manifests,
                "interactions_in_manifests": result.interactions_in_manifests,
                "rows": rows,
                "jobs": result.jobs,
            }
        )
        return
    console.print(
        f"{result.group_arn}: {rows['interactions']} of {result.interactions_in_manifests} interactions from "
        f"{result.manifests} export(s) imported, {rows['items']} items, {rows['users']} users"
    )
    console.print(
        f"next: set STORYREC_PERSONALIZE_DATASET_GROUP={dataset_group} (and new solution, filter and campaign "
        "names: docs/deploy.md), run `storyrec bootstrap`, then `storyrec train`"
    )


def register(app: typer.Typer) -> None:
    """Add ``rebuild`` to the operator CLI."""
    app.command("rebuild")(rebuild)
