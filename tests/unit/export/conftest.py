"""Export unit fixtures: the export over in-memory fakes with a hand-moved clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.export import ExportDeps
from tests.unit.export.factories import AFTER_DAY


class Clock:
    """A clock the test sets by hand."""

    def __init__(self, now: datetime = AFTER_DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock) -> ExportDeps:
    return ExportDeps(
        docs=InMemoryDocumentStore(),
        import_store=InMemoryObjectStore("import"),
        backup_store=InMemoryObjectStore("backup"),
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=clock,
        prefix="",
    )


@pytest.fixture
def prefixed(deps: ExportDeps) -> ExportDeps:
    return replace(deps, prefix="personalize/")
