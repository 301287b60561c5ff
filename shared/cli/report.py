"""``storyrec report``: the pipeline's state as one self-contained HTML file with plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from shared import wiring
from shared.adapters.folder import FolderExport
from shared.config import Settings
from shared.errors import ConfigError
from shared.manifest import ExportReader
from shared.report import gather_report_data, render_html

Out = Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")]
Days = Annotated[int, typer.Option("--days", min=1, max=366, help="Days of interactions to plot.")]
ExportsDir = Annotated[
    Path | None,
    typer.Option(
        "--exports-dir",
        exists=True,
        file_okay=False,
        help="A local copy of the backup bucket to read export manifests from. Default: the bucket itself.",
    ),
]


NoAws = Annotated[
    bool, typer.Option("--no-aws", help="Skip the AWS stage (decisions, versions, imports, alerts: S3, Personalize).")
]
NoFeeds = Annotated[bool, typer.Option("--no-feeds", help="Skip reading feeds/* (it reads every feed).")]


def report(
    out: Out = Path("storyrec-report.html"),
    days: Days = 30,
    exports_dir: ExportsDir = None,
    no_aws: NoAws = False,
    no_feeds: NoFeeds = False,
) -> None:
    """Interactions, quarantine, exports and imports per day, solution versions, feeds and alerts, in one file.

    Solution versions come from Personalize and the AWS stage's decision history (S3), imports from
    Personalize, alerts from the stage's state (S3), feeds from feeds/* (Firestore);
    a source that cannot be read is named in the report's notes. Exit codes: 0 written, 2 configuration
    (or the `report` extra is not installed).
    """
    from shared.adapters.counters import FirestoreCounter  # cold-start: google-cloud-firestore, +0.26 s

    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        typer.echo("the report needs matplotlib: pip install 'storyrec[report]'", err=True)
        raise typer.Exit(2) from exc
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    backup: ExportReader = FolderExport(exports_dir) if exports_dir else wiring.backup_store(settings)
    counter = FirestoreCounter(wiring.firestore_client(settings), timeout=settings.timeouts.firestore)
    stage = None if no_aws else wiring.stage_deps(settings)
    feeds = None if no_feeds else wiring.document_store(settings)
    data = gather_report_data(settings, counter, backup, wiring.utc_now(), days=days, stage=stage, feeds=feeds)
    page = render_html(data)
    out.write_text(page, encoding="utf-8")
    typer.echo(f"{out} ({len(page.encode('utf-8')) / 1000:.0f} kB)")


def register(app: typer.Typer) -> None:
    """Add ``report`` to the operator CLI."""
    app.command("report")(report)
