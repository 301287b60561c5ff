"""``storyrec bootstrap [--config FILE] [--dry-run] [--json]``: the Personalize resources, describe-or-create."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, EXIT_USAGE, Json, console, fail, load_settings, print_json
from shared.errors import ConfigError, StoryrecError
from shared.operate.bootstrap import (
    DEFAULT_CONFIG,
    Bootstrap,
    Step,
    apply,
    changed,
    check_against_settings,
    load_config,
    plan,
    step_rows,
)

ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Resources file. Default: infra/personalize/resources.json."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only describe: print what exists and what would be created.")]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1.0, help="Seconds to wait for a new dataset to become ACTIVE.")
]


def bootstrap(
    config: ConfigFile = None, dry_run: DryRun = False, json_: Json = False, timeout: Timeout = 600.0
) -> None:
    """Create every Personalize resource the config file names that does not exist yet.

    Dataset group, schemas (from the Avro files), datasets, the serving solution's two slots (the
    configured name and <name>-b, same recipe and configuration: training alternates between them), the
    popularity-baseline solution, filters, the metric attribution (clicks and reads per source, its reports
    under the import bucket). The campaign is created by the first promotion. A second run changes nothing;
    on a deployment made before the slots it creates the second slot (the serving version stays where it is).
    Exit codes: 0 done (or nothing to do), 1 Personalize refused or failed, 2 bad config or settings.
    """
    settings = load_settings()
    try:
        resources = load_config(config or DEFAULT_CONFIG)
        check_against_settings(resources, settings)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_USAGE)
    boot = Bootstrap(wiring.personalize(settings), resources, settings, settle_timeout=timeout)
    try:
        if dry_run:
            steps = plan(boot)
        else:
            from rich.progress import Progress

            total = (
                2 + 2 * len(resources.datasets) + 2 + len(resources.filters) + 1 + (resources.attribution is not None)
            )
            with Progress(console=console, transient=True, disable=json_) as bar:
                task = bar.add_task("bootstrap", total=total)

                def advance(step: Step) -> None:
                    bar.update(task, advance=1, description=f"{step.kind} {step.name}")

                steps = apply(boot, advance)
    except StoryrecError as exc:
        fail(f"bootstrap failed: {exc}", EXIT_FAILED)
    if json_:
        print_json({"dry_run": dry_run, "changed": changed(steps), "steps": step_rows(steps)})
        return
    _table(steps, "plan" if dry_run else "bootstrap")
    if dry_run:
        todo = sum(s.action == "create" for s in steps)
        console.print(f"dry run: {todo} resource(s) would be created" if todo else "dry run: nothing to create")
    elif changed(steps):
        console.print(f"created {sum(s.action == 'created' for s in steps)} resource(s)")
    else:
        console.print("nothing changed: every resource already exists")


def _table(steps: list[Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("kind", "name", "action", "arn / detail"):
        table.add_column(column)
    colours = {"create": "yellow", "created": "green", "deferred": "cyan"}
    for s in steps:
        action = f"[{colours[s.action]}]{s.action}[/]" if s.action in colours else s.action
        table.add_row(s.kind, s.name, action, s.arn or s.detail)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``bootstrap`` to the operator CLI."""
    app.command("bootstrap")(bootstrap)
