"""``storyrec export [--date YYYY-MM-DD]``: the same export the daily Cloud Function runs."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Annotated

import typer

ExportDate = Annotated[
    str | None,
    typer.Option("--date", help="Day to export (YYYY-MM-DD, in STORYREC_TIME_ZONE). Default: yesterday."),
]
MaxPartMb = Annotated[
    int, typer.Option("--max-part-mb", min=1, max=1000, help="Split CSV files above this size (MB).")
]


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--date") from exc


def export(date_: ExportDate = None, max_part_mb: MaxPartMb = 1000) -> None:
    """Export one day's interactions and the item/user snapshots to S3 (and the GCS backup)."""
    from shared.config import Settings
    from shared.errors import ConfigError
    from shared.export import ExportFailed, ExportOptions, run_export
    from shared.export.wiring import export_deps, yesterday

    day = _parse_date(date_) if date_ else None
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    deps = export_deps(settings)
    day = day or yesterday(deps.clock(), settings.time_zone)
    try:
        result = run_export(day, deps, ExportOptions(max_part_bytes=max_part_mb * 1_000_000))
    except ExportFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    summary = {
        "date": result.date.isoformat(),
        "run_id": result.run_id,
        "window": [result.window.start.isoformat(), result.window.end.isoformat()],
        "rows": {d.dataset: d.rows for d in result.datasets},
        "manifest": result.manifest_key,
    }
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``export`` to the operator CLI."""
    app.command("export")(export)
