"""The per-user click rate on the real Firestore emulator, with the triggers of one batch running at once.

The slots are create-only documents, so the ceiling holds under concurrency: of 200 clicks committed in
one batch (one ``createdAt``) and captured by 16 concurrent workers, at most ``CLICKS_PER_MINUTE`` become
interactions and every other one is quarantined as ``rate_limited``; another user's 10 clicks, captured
at the same time, all pass.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.capture.rate import CLICKS_PER_MINUTE
from shared.capture.service import CaptureService, Outcome

pytestmark = pytest.mark.integration


def test_a_concurrent_batch_of_200_keeps_the_ceiling_and_a_burst_of_10_passes(
    firestore_client: Any, service: CaptureService
) -> None:
    firestore_client.document("stories/s1").set({"title": "A", "publishedAt": datetime.now(UTC)})
    created = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=1)
    click = {"storyId": "s1", "type": "open", "clientTime": created, "createdAt": created}
    jobs = [(f"flood-{i}", {**click, "userId": "flooder"}) for i in range(200)]
    jobs += [(f"reader-{i}", {**click, "userId": "reader"}) for i in range(10)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = dict(zip([j[0] for j in jobs], pool.map(lambda j: service.capture_click(*j), jobs), strict=True))

    flood = Counter(o for k, o in outcomes.items() if k.startswith("flood-"))
    assert 0 < flood[Outcome.CAPTURED] <= CLICKS_PER_MINUTE
    assert flood[Outcome.QUARANTINED] == 200 - flood[Outcome.CAPTURED]
    assert Counter(o for k, o in outcomes.items() if k.startswith("reader-")) == {Outcome.CAPTURED: 10}
    users = Counter(d.to_dict()["USER_ID"] for d in firestore_client.collection("ml_interactions").stream())
    assert users == {"flooder": flood[Outcome.CAPTURED], "reader": 10}
    reasons = Counter(d.to_dict()["reason"] for d in firestore_client.collection("ml_quarantine").stream())
    assert reasons == {"rate_limited": flood[Outcome.QUARANTINED]}
