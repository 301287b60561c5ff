"""What a feed fill is given (:class:`FeedDeps`) and what it reports (:class:`FillSummary`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.config import Collections, PersonalizeSettings, RecommendSettings
from shared.experiment.assign import Experiment
from shared.personalize.port import PersonalizePort
from shared.ports import Clock, DocumentStore, MetricsSink, Notifier, ObjectStore


@dataclass
class FeedDeps:
    """Everything a feed fill needs, injected."""

    docs: DocumentStore
    recommender: PersonalizePort
    """Amazon Personalize (the campaign, the feed filter, batch inference)."""
    notifier: Notifier
    metrics: MetricsSink
    clock: Clock
    collections: Collections
    personalize: PersonalizeSettings
    config: RecommendSettings
    batch_store: ObjectStore | None = None
    """The S3 bucket batch inference reads its input from and writes its output to."""
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    """The clock of waits, rate limits and durations (``clock`` is the wall clock feeds are dated with)."""
    batch_poll_seconds: float = 30.0
    experiment: Callable[[str | None], Experiment] | None = None
    """The test running while the given version serves (docs/experiment.md); None: no arms."""


@dataclass
class FillSummary:
    """What one run did."""

    run_id: str
    users: int = 0
    personalized: int = 0
    popular: int = 0
    stale: int = 0
    missing: int = 0
    """Users given no new feed: nothing showable (without a previous feed), or the write-time re-check left
    nothing in it (the previous feed stays)."""
    superseded: int = 0
    """Feeds (or stale marks) not written because the stored feed was as new or newer (another run or a refresh)."""
    withdrawn: int = 0
    """Stories taken out of feeds at write time: deleted or unpublished after the run read the catalogue."""
    mode: str = "realtime"
    arms: dict[str, int] = field(default_factory=dict)
    """Feeds written per experiment arm (control, challenger; champion is the rest)."""
    experiment_id: str | None = None
    solution_version_arn: str | None = None
    seconds: float = 0.0
    alerted: bool = False
    no_campaign: bool = False
    """No campaign existed yet: every reader got the popular feed (not stale, no alert)."""
    errors: dict[str, int] = field(default_factory=dict)
    history_queries: int = 0
    """Readers whose whole history came from a query on ``ml_interactions`` (no trusted aggregate)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))
