"""The catalogue's newest-stories fallback reads the same stories whether or not the run preloaded it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryDocumentStore
from shared.config import Collections
from shared.ports import Query
from shared.recommend.catalogue import Catalogue
from tests.unit.recommend.fakes import NOW_TS, story

pytestmark = pytest.mark.unit


class CountingStore(InMemoryDocumentStore):
    def __init__(self) -> None:
        super().__init__()
        self.streams: list[str] = []

    def stream(self, query: Query, *, page_size: int = 1000) -> Any:
        self.streams.append(query.collection)
        return super().stream(query, page_size=page_size)


STORIES = st.lists(
    st.tuples(st.integers(0, 60), st.booleans(), st.sampled_from(["published", "draft"])), min_size=0, max_size=15
)


@settings(max_examples=60, deadline=None)
@given(stories=STORIES, limit=st.integers(1, 20))
def test_newest_after_a_preload_is_the_newest_read_from_the_store(stories: list[Any], limit: int) -> None:
    docs = CountingStore()
    for k, (age, active, status) in enumerate(stories):
        story(docs, f"s{k}", age_days=age, active=active, status=status)
    min_created = NOW_TS - 30 * 86400
    fresh = Catalogue(docs, Collections(), min_created).newest(limit)
    preloaded = Catalogue(docs, Collections(), min_created)
    preloaded.preload()
    docs.streams.clear()
    assert [(s.story_id, s.created) for s in preloaded.newest(limit)] == [(s.story_id, s.created) for s in fresh]
    assert docs.streams == []  # no second read of ml_items


def test_a_story_withdrawn_by_the_recheck_leaves_the_newest() -> None:
    docs = CountingStore()
    for k in range(3):
        story(docs, f"s{k}", age_days=k)
    catalogue = Catalogue(docs, Collections(), NOW_TS - 30 * 86400)
    catalogue.preload()
    docs.delete("stories/s0")
    assert catalogue.recheck({"s0"}) == {"s0"}
    assert [s.story_id for s in catalogue.newest(5)] == ["s1", "s2"]
