"""Composition root of feed filling: real adapters from Settings, built per invocation."""

from __future__ import annotations

from shared.config import Settings
from shared.ports import Clock
from shared.recommend.feeds import FeedDeps
from shared.recommend.ports import Recommender


def recommender(settings: Settings) -> Recommender:
    """Personalize behind the Recommender port (re-point here to use another Personalize port)."""
    from shared import wiring
    from shared.adapters.personalize import PersonalizeGateway
    from shared.recommend.personalize import PersonalizeRecommender

    control = wiring.aws_client("personalize", settings)
    runtime = wiring.aws_client("personalize-runtime", settings)
    return PersonalizeRecommender(PersonalizeGateway(control, runtime), control, runtime)


def feed_deps(settings: Settings, clock: Clock | None = None) -> FeedDeps:
    """FeedDeps over Firestore, Personalize, SNS, CloudWatch and the import bucket (batch jobs)."""
    from shared import wiring

    return FeedDeps(
        docs=wiring.document_store(settings),
        recommender=recommender(settings),
        notifier=wiring.notifier(settings),
        metrics=wiring.metrics(settings),
        clock=clock or wiring.utc_now,
        collections=settings.collections,
        personalize=settings.personalize,
        config=settings.recommend,
        batch_store=wiring.import_store(settings),
    )
