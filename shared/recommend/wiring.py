"""Composition root of feed filling: real adapters from Settings, built per invocation."""

from __future__ import annotations

from shared import wiring
from shared.config import Settings
from shared.ports import Clock
from shared.recommend.deps import FeedDeps


def feed_deps(settings: Settings, clock: Clock | None = None) -> FeedDeps:
    """FeedDeps over Firestore, Personalize, SNS, CloudWatch and the import bucket (batch jobs)."""
    return FeedDeps(
        docs=wiring.document_store(settings),
        recommender=wiring.personalize(settings),
        notifier=wiring.notifier(settings),
        metrics=wiring.metrics(settings),
        clock=clock or wiring.utc_now,
        collections=settings.collections,
        personalize=settings.personalize,
        config=settings.recommend,
        batch_store=wiring.import_store(settings),
    )
