"""Replay existing app documents through the capture use cases (the trigger code path).

Stories go first so clicks find their story; every step is idempotent, so a second run changes nothing.
A document the store refuses to hold (``InvalidRequest``) or that fails in an unforeseen way is
counted as ``failed`` and logged, and the replay goes on; an unreachable store stops it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from shared.capture.service import CaptureService, Outcome
from shared.errors import AccessDenied, ServiceUnavailable
from shared.logs import get_logger
from shared.ports import DocumentStore, MetricsSink, Query, Snapshot

_log = get_logger("backfill")

Source = Literal["stories", "users", "clicks", "impressions"]
SOURCES: tuple[Source, ...] = ("stories", "users", "clicks", "impressions")


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
    collection = {"stories": col.stories, "users": col.users, "clicks": col.clicks, "impressions": col.impressions}[
        source
    ]
    outcomes: Counter[Outcome] = Counter()
    for snap in store.stream(Query(collection), page_size=page_size):
        try:
            outcome = _capture(service, source, snap)
        except (ServiceUnavailable, AccessDenied):
            raise
        except Exception:  # one bad document must not stop the replay at the same place on every run
            _log.exception("backfill could not capture a document", extra={"source": source, "doc_id": snap.id[:200]})
            outcome = Outcome.FAILED
        outcomes[outcome] += 1
        on_document(outcome)
    return outcomes


def _capture(service: CaptureService, source: Source, snap: Snapshot) -> Outcome:
    version = snap.update_time or service.clock()
    if source == "stories":
        return service.capture_story(snap.id, snap.data, version=version)
    if source == "users":
        return service.capture_user(snap.id, snap.data, version=version)
    if source == "impressions":
        return service.capture_impression(snap.id, snap.data)
    return service.capture_click(snap.id, snap.data)


def ordered(targets: Iterable[Source]) -> list[Source]:
    """The requested sources in dependency order (stories before clicks)."""
    wanted = set(targets)
    return [s for s in SOURCES if s in wanted]
