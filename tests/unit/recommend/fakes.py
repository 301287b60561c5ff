"""The in-memory Personalize set up for feed tests, and a seeded in-memory Firestore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Collections, PersonalizeSettings, RecommendSettings
from shared.recommend import CampaignInfo, FeedDeps
from tests.unit.aws.fakes import ACCOUNT, FakePersonalize

NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
NAMES = PersonalizeSettings(num_results=5)
CAMPAIGN = CampaignInfo(f"{ACCOUNT}:campaign/{NAMES.campaign}", f"{ACCOUNT}:solution/s/v1")


def recommender(order: list[str], batch_store: InMemoryObjectStore | None = None) -> FakePersonalize:
    """A fake Personalize whose campaign (:data:`CAMPAIGN`, ACTIVE) ranks every user's items by ``order``."""
    port = FakePersonalize(NOW, order, batch_store)
    port.ensure_dataset_group(NAMES.dataset_group)
    assert port.ensure_campaign(NAMES.campaign, CAMPAIGN.solution_version_arn, 1) == CAMPAIGN.campaign_arn
    return port


def story(
    docs: InMemoryDocumentStore, sid: str, *, age_days: int = 1, active: bool = True, status: str = "published"
) -> None:
    created = NOW_TS - age_days * 86400
    docs.set(
        f"stories/{sid}",
        {
            "title": f"Title {sid}",
            "url": f"https://x/{sid}",
            "image": f"https://i/{sid}",
            "source": "wire",
            "status": status,
        },
    )
    docs.set(f"ml_items/{sid}", {"ITEM_ID": sid, "CREATION_TIMESTAMP": created, "active": active})


def click(docs: InMemoryDocumentStore, uid: str, sid: str, *, days_ago: float = 1, event: str = "read") -> None:
    ts = NOW_TS - int(days_ago * 86400)
    docs.set(
        f"ml_interactions/{uid}-{sid}-{event}-{ts}",
        {"USER_ID": uid, "ITEM_ID": sid, "TIMESTAMP": ts, "EVENT_TYPE": event},
    )


def make_deps(port: FakePersonalize, docs: InMemoryDocumentStore | None = None, **config: Any) -> FeedDeps:
    return FeedDeps(
        docs=docs or InMemoryDocumentStore(),
        recommender=port,
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: NOW,
        collections=Collections(),
        personalize=NAMES,
        config=RecommendSettings(**{"backoff_seconds": 0.0, **config}),
        batch_store=port.batch_store,
        sleep=lambda _: None,
        batch_poll_seconds=0.0,
    )


def without_campaign(order: list[str]) -> FakePersonalize:
    """A fake Personalize before the first promotion: the dataset group exists, no campaign does."""
    port = FakePersonalize(NOW, order)
    port.ensure_dataset_group(NAMES.dataset_group)
    return port
