"""An in-memory Recommender and a seeded in-memory Firestore for feed tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Collections, PersonalizeSettings, RecommendSettings
from shared.recommend.feeds import FeedDeps
from shared.recommend.ports import BatchRequest, CampaignInfo, Ranked, RecommenderError

NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
CAMPAIGN = CampaignInfo(
    "arn:aws:personalize:us-east-1:000000000000:campaign/feed",
    "arn:aws:personalize:us-east-1:000000000000:solution/s/v1",
)


class FakeRecommender:
    """Ranks the catalogue by a fixed order (or per-user orders); can fail on demand."""

    def __init__(self, order: list[str], batch_store: InMemoryObjectStore | None = None) -> None:
        self.order = order
        self.per_user: dict[str, list[str]] = {}
        self.fail: RecommenderError | None = None
        self.fail_times = 0
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.filters: dict[str, str] = {}
        self.batch_store = batch_store
        self.batches: list[BatchRequest] = []
        self._lock = threading.Lock()

    def campaign(self, name_or_arn: str) -> CampaignInfo:
        return CAMPAIGN

    def ensure_filter(self, name: str, dataset_group: str, expression: str) -> str:
        self.filters.setdefault(name, expression)
        return f"arn:aws:personalize:us-east-1:000000000000:filter/{name}"

    def recommend(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int,
        filter_arn: str | None,
        filter_values: Mapping[str, str],
    ) -> Ranked:
        with self._lock:
            self.calls.append((user_id, dict(filter_values)))
            if self.fail_times:
                self.fail_times -= 1
                raise RecommenderError("ThrottlingException: slow down", retryable=True, code="ThrottlingException")
        if self.fail is not None:
            raise self.fail
        items = self.per_user.get(user_id, self.order)[:num_results]
        return Ranked(tuple(items), tuple(1.0 - i / 100 for i in range(len(items))), f"rid-{user_id}")

    def start_batch(self, request: BatchRequest) -> str:
        assert self.batch_store is not None
        self.batches.append(request)
        key = request.input_uri.split("/", 3)[3]
        lines = self.batch_store.get_bytes(key).decode().splitlines()
        out = []
        for line in lines:
            query = json.loads(line)
            items = self.per_user.get(query["userId"], self.order)[: request.num_results]
            out.append(
                json.dumps(
                    {"input": query, "output": {"recommendedItems": items, "scores": [0.5] * len(items)}, "error": None}
                )
            )
        out_key = request.output_uri.split("/", 3)[3] + key.rsplit("/", 1)[1] + ".out"
        self.batch_store.put_bytes(out_key, "\n".join(out).encode())
        return "arn:aws:personalize:us-east-1:000000000000:batch-inference-job/x"

    def batch_status(self, job_arn: str) -> tuple[str, str | None]:
        return "ACTIVE", None


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


def make_deps(recommender: Any, docs: InMemoryDocumentStore | None = None, **config: Any) -> FeedDeps:
    return FeedDeps(
        docs=docs or InMemoryDocumentStore(),
        recommender=recommender,
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: NOW,
        collections=Collections(),
        personalize=PersonalizeSettings(num_results=5),
        config=RecommendSettings(**{"backoff_seconds": 0.0, **config}),
        batch_store=getattr(recommender, "batch_store", None),
        sleep=lambda _: None,
        batch_poll_seconds=0.0,
    )
