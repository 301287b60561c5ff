"""Replay existing app documents through the capture use cases (the trigger code path).

Stories go first so clicks find their story; every step is idempotent, so a second run changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from shared.capture.service import CaptureService, Outcome
from shared.ports import DocumentStore, MetricsSink, Query

Source = Literal["stories", "users", "clicks"]
SOURCES: tuple[Source, ...] = ("stories", "users", "clicks")


class AggregatingMetrics:
    """Sums data points by name and dimensions; ``flush`` sends one point per series to the inner sink."""

    def __init__(self, inner: MetricsSink) -> None:
        self.inner = inner
        self.totals: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}

    def put(
        self,
        name: str,
        value: float = 1.0,
        *,
        unit: str = "Count",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        key = (name, unit, tuple(sorted((dimensions or {}).items())))
        self.totals[key] = self.totals.get(key, 0.0) + value

    def flush(self) -> None:
        for (name, unit, dims), value in sorted(self.totals.items()):
            self.inner.put(name, value, unit=unit, dimensions=dict(dims))
        self.totals.clear()
        self.inner.flush()


def replay(
    service: CaptureService,
    store: DocumentStore,
    source: Source,
    *,
    on_document: Callable[[Outcome], None] = lambda _: None,
    page_size: int = 500,
) -> Counter[Outcome]:
    """Capture every document of one source collection; return how many ended in each outcome."""
    col = service.collections
    collection = {"stories": col.stories, "users": col.users, "clicks": col.clicks}[source]
    outcomes: Counter[Outcome] = Counter()
    for snap in store.stream(Query(collection), page_size=page_size):
        if source == "stories":
            outcome = service.capture_story(snap.id, snap.data)
        elif source == "users":
            outcome = service.capture_user(snap.id, snap.data)
        else:
            outcome = service.capture_click(snap.id, snap.data)
        outcomes[outcome] += 1
        on_document(outcome)
    return outcomes


def ordered(targets: Iterable[Source]) -> list[Source]:
    """The requested sources in dependency order (stories before clicks)."""
    wanted = set(targets)
    return [s for s in SOURCES if s in wanted]
