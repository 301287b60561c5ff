"""``storyrec export [--date YYYY-MM-DD] [--force] [--replace]``: the same export the daily function runs."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Annotated

import typer

from shared.config import Settings
from shared.errors import ConfigError
from shared.export import ExportFailed, ExportOptions
from shared.export.guards import DateRejected, ExportRefused, Overrides
from shared.logs import redact

ExportDate = Annotated[
    str | None,
    typer.Option("--date", help="Day to export (YYYY-MM-DD, in STORYREC_TIME_ZONE). Default: yesterday."),
]
MaxPartMb = Annotated[int, typer.Option("--max-part-mb", min=1, max=1000, help="Split CSV files above this size (MB).")]
Force = Annotated[
    bool, typer.Option("--force", help="Export even if a FULL snapshot shrank or the day has no interactions.")
]
History = Annotated[
    bool,
    typer.Option(
        "--history",
        help="The first load of history (after `storyrec backfill all`): everything captured until 10 minutes ago, "
        "as one bulk import; the daily export then starts where it ends. Once, before any daily export.",
    ),
]
Replace = Annotated[
    bool, typer.Option("--replace", help="Overwrite a published export of the day whose content differs.")
]

EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 1, 2, 3


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--date") from exc


def export(
    date_: ExportDate = None,
    max_part_mb: MaxPartMb = 1000,
    force: Force = False,
    replace: Replace = False,
    history: History = False,
) -> None:
    """Export one day's interactions and the item/user snapshots to S3 (and the GCS backup).

    With --history: the whole captured history once, as Personalize's first bulk import (docs/export.md).
    """
    from shared.export.wiring import export_day, export_history_now  # cold-start: +0.4 s (Firestore, GCS)

    if history and date_ is not None:
        typer.echo("--history exports everything captured so far: it takes no --date", err=True)
        raise typer.Exit(EXIT_USAGE)
    day = _parse_date(date_) if date_ is not None else None  # "" is a mistake, not "yesterday"
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        options = ExportOptions(max_part_bytes=max_part_mb * 1_000_000)
        overrides = Overrides(force=force, replace=replace)
        if history:
            result = export_history_now(settings, options, overrides)
        else:
            result = export_day(day, settings, options, overrides)
    except DateRejected as exc:
        typer.echo(f"{'history not exported' if history else 'date rejected'}: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except ExportRefused as exc:
        if history and exc.reason == "empty_interactions":
            typer.echo(
                "history not exported (empty_interactions): nothing was captured until 10 minutes ago: "
                "run `storyrec backfill all` first (--force exports it empty)",
                err=True,
            )
            raise typer.Exit(EXIT_REFUSED) from exc
        typer.echo(f"export refused ({exc.reason}): {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    except ExportFailed as exc:
        typer.echo(redact(str(exc)), err=True)
        raise typer.Exit(EXIT_FAILED) from exc
    summary = {
        "date": result.date.isoformat(),
        "run_id": result.run_id,
        "window": [result.window.start.isoformat(), result.window.end.isoformat()],
        "rows": {d.dataset: d.rows for d in result.datasets},
        "manifest": result.manifest_key,
    }
    if history:
        summary["daily_exports_start_at"] = result.window.end.isoformat()
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``export`` to the operator CLI."""
    app.command("export")(export)
