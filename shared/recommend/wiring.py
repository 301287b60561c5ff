"""Composition root of feed filling: real adapters from Settings, built per invocation."""

from __future__ import annotations

from collections.abc import Callable

from shared import wiring
from shared.config import Settings
from shared.errors import NotFound
from shared.experiment.assign import Experiment
from shared.logs import get_logger
from shared.ports import Clock, ObjectStore
from shared.recommend.arms import experiment_from_state
from shared.recommend.deps import FeedDeps

_log = get_logger("recommend")


def _experiment(settings: Settings, store: ObjectStore) -> Callable[[str | None], Experiment]:
    """Reads the challenger under test from the AWS stage's state; any failure leaves the holdout alone."""
    key = f"{settings.aws_stage.state_prefix}experiment.json"

    def current(serving: str | None) -> Experiment:
        try:
            state: bytes | None = store.get_bytes(key)
        except NotFound:
            state = None
        except Exception as exc:  # e.g. no read grant: the holdout still runs, the challenger waits
            _log.warning("the test's state is unreadable: control arm only", extra={"error": str(exc)[:300]})
            state = None
        return experiment_from_state(settings.experiment, state, serving)

    return current


def feed_deps(settings: Settings, clock: Clock | None = None) -> FeedDeps:
    """FeedDeps over Firestore, Personalize, SNS, CloudWatch and the import bucket (batch jobs, the test)."""
    store = wiring.import_store(settings)
    return FeedDeps(
        docs=wiring.document_store(settings),
        recommender=wiring.personalize(settings),
        notifier=wiring.notifier(settings),
        metrics=wiring.metrics(settings),
        clock=clock or wiring.utc_now,
        collections=settings.collections,
        personalize=settings.personalize,
        config=settings.recommend,
        batch_store=store,
        experiment=_experiment(settings, store),
    )
