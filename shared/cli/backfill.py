"""``storyrec backfill [stories|users|clicks|impressions|readers|all]``: replay existing documents into the ML
collections; ``readers`` builds the per-reader aggregates from ``ml_interactions`` (docs/capture.md)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.capture import wiring
from shared.capture.backfill import SOURCES, AggregatingMetrics, ordered, replay
from shared.capture.readers import backfill_readers
from shared.capture.service import CaptureService, Outcome
from shared.config import Settings
from shared.errors import ConfigError
from shared.logs import correlated

_console = Console(stderr=True)


class Target(StrEnum):
    stories = "stories"
    users = "users"
    clicks = "clicks"
    impressions = "impressions"
    readers = "readers"
    all = "all"


def backfill(
    target: Annotated[Target, typer.Argument(help="Which collection to replay.")] = Target.all,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Documents read per page.")] = 500,
) -> None:
    """Replay existing stories, users, clicks and impressions through the capture code path (idempotent); then
    (``readers``, last of ``all``) build every reader's aggregate from ``ml_interactions`` and mark them complete,
    so the feed fill stops querying ``ml_interactions`` per reader (resumable: a rerun goes on where it stopped)."""
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        _console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    base = wiring.build_service(settings)
    metrics = AggregatingMetrics(base.metrics)
    service = replace(base, metrics=metrics)
    # one log line per document would drown the progress bar; quarantines (warnings) still show
    capture_log = logging.getLogger("storyrec.capture")
    level = capture_log.level
    capture_log.setLevel(logging.WARNING)
    try:
        table, failed = _run(service, target, page_size, metrics)
    finally:
        capture_log.setLevel(level)
    _console.print(table)
    if failed:
        # every other document was captured; the failures are logged with their ids
        _console.print(f"[red]{failed} document(s) could not be captured (see the log); rerun after fixing[/red]")
        raise typer.Exit(1)


def _run(service: CaptureService, target: Target, page_size: int, metrics: AggregatingMetrics) -> tuple[Table, int]:
    """Replay the chosen sources under one correlation id, with a progress bar; return the outcome table
    and how many documents failed (a failure is logged and skipped, never stops the replay)."""
    sources = ordered(SOURCES if target is Target.all else [s for s in SOURCES if s == target.value])
    table = Table("source", *[o.value for o in Outcome], title="backfill")
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    failed = 0
    readers = target in (Target.all, Target.readers)
    with correlated() as run_id, Progress(*columns, console=_console) as progress:
        _console.print(f"backfill run {run_id}: {', '.join([*sources, *(['readers'] if readers else [])])}")
        for source in sources:
            task = progress.add_task(source, total=None)

            def advance(_: Outcome, task: TaskID = task) -> None:
                progress.advance(task)

            counts = replay(service, service.store, source, page_size=page_size, on_document=advance)
            progress.update(task, total=sum(counts.values()))
            table.add_row(source, *[str(counts.get(o, 0)) for o in Outcome])
            failed += counts.get(Outcome.FAILED, 0)
        if readers:
            task = progress.add_task("readers", total=None)
            built = backfill_readers(
                service.store,
                service.collections,
                metrics,
                service.clock(),
                page_size=page_size,
                on_page=lambda n: progress.advance(task, n),
            )
            progress.update(task, total=built.interactions)
            resumed = f", resumed after {built.resumed_after}" if built.resumed_after else ""
            _console.print(
                f"readers: {built.interactions} interactions into {built.readers} aggregate writes, "
                f"{built.erased} deleted users erased, {built.overflowed} overflowed{resumed}; marked complete"
            )
        metrics.flush()
    return table, failed


def register(app: typer.Typer) -> None:
    """Add ``backfill`` to the operator CLI."""
    app.command("backfill")(backfill)
