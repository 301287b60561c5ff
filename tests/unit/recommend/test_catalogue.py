"""The catalogue's newest-stories fallback reads the same stories whether or not the run preloaded it; its field
masks decide as whole documents would."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryDocumentStore
from shared.config import Collections
from shared.ports import Query
from shared.recommend import catalogue as catalogue_module
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


class WholeDocuments(InMemoryDocumentStore):
    """Ignores field masks: every read returns whole documents (how the catalogue read before it had masks)."""

    def get_many(self, paths: Any, *, fields: Any = None) -> Any:
        return super().get_many(paths)

    def query(self, query: Query) -> Any:
        return super().query(replace(query, fields=None))


class Recording(InMemoryDocumentStore):
    """Notes the fields of every document each read returns."""

    def __init__(self) -> None:
        super().__init__()
        self.returned: set[str] = set()

    def get_many(self, paths: Any, *, fields: Any = None) -> Any:
        found = super().get_many(paths, fields=fields)
        self.returned.update(k for d in found if d for k in d)
        return found

    def query(self, query: Query) -> Any:
        found = super().query(query)
        self.returned.update(k for s in found for k in s.data)
        return found


MIN_CREATED = NOW_TS - 30 * 86400
ABSENT = object()
ITEM = st.fixed_dictionaries(
    {
        "active": st.sampled_from([True, False, "true", ABSENT]),
        "CREATION_TIMESTAMP": st.sampled_from([NOW_TS - 86400, NOW_TS - 3600, MIN_CREATED - 1, ABSENT]),
        "TITLE": st.sampled_from(["Item title", " ", ABSENT]),
        "SOURCE": st.sampled_from(["item-source", "", ABSENT]),
        "SUMMARY": st.just("s" * 300),
    }
)
STORY = st.none() | st.fixed_dictionaries(
    {
        "title": st.sampled_from(["Story title", "", None, ABSENT]),
        "url": st.sampled_from(["https://x/s", 3, ABSENT]),
        "image": st.sampled_from(["https://i/s", ABSENT]),
        "source": st.sampled_from(["wire", " ", ABSENT]),
        "status": st.sampled_from(["published", " Published ", "draft", None, 5, ABSENT]),
        "body": st.just("b" * 2000),
        "tags": st.just(["a", "b"]),
    }
)


def seed(docs: InMemoryDocumentStore, corpus: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[str]:
    ids = []
    for k, (item, doc) in enumerate(corpus):
        sid = f"s{k:02d}"
        ids.append(sid)
        docs.set(f"ml_items/{sid}", {"ITEM_ID": sid, **{f: v for f, v in item.items() if v is not ABSENT}})
        if doc is not None:
            docs.set(f"stories/{sid}", {f: v for f, v in doc.items() if v is not ABSENT})
    return ids


def observed(docs: InMemoryDocumentStore, ids: list[str]) -> tuple[Any, ...]:
    """Everything the catalogue decides on these stories: preloaded and looked up one by one, the newest
    stories both ways, and the write-time re-check."""

    def shown(catalogue: Catalogue) -> dict[str, Any]:
        return {i: (s.created, dict(s.display)) for i in ids if (s := catalogue.story(i)) is not None}

    preloaded = Catalogue(docs, Collections(), MIN_CREATED)
    count = preloaded.preload()
    lazy = Catalogue(docs, Collections(), MIN_CREATED)
    lazy_newest = [s.story_id for s in lazy.newest(10)]
    return (
        count,
        shown(preloaded),
        [s.story_id for s in preloaded.newest(10)],
        shown(lazy),
        lazy_newest,
        sorted(Catalogue(docs, Collections(), MIN_CREATED).recheck(ids)),
    )


def both(corpus: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    masked, whole = InMemoryDocumentStore(), WholeDocuments()
    ids = seed(masked, corpus)
    seed(whole, corpus)
    return observed(masked, ids), observed(whole, ids)


@settings(max_examples=80, deadline=None)
@given(corpus=st.lists(st.tuples(ITEM, STORY), min_size=1, max_size=12))
def test_a_catalogue_read_through_field_masks_decides_as_one_read_from_whole_documents(corpus: list[Any]) -> None:
    masked, whole = both(corpus)
    assert masked == whole


# one story per field the masks hold, where leaving that field out changes what the catalogue shows
NEEDS_EACH_FIELD = [
    ({"active": True, "CREATION_TIMESTAMP": NOW_TS - 60}, {"title": "T", "url": "u", "image": "i", "source": "s"}),
    ({"active": True, "CREATION_TIMESTAMP": NOW_TS - 30, "TITLE": "item title", "SOURCE": "item source"}, {}),
    ({"active": True, "CREATION_TIMESTAMP": NOW_TS - 90}, {"title": "Draft", "status": "draft"}),
]


@pytest.mark.parametrize(
    ("constant", "left_out"),
    [("ITEM_FIELDS", f) for f in catalogue_module.ITEM_FIELDS]
    + [("STORY_FIELDS", f) for f in catalogue_module.STORY_FIELDS]
    + [("PUBLISHED_FIELDS", f) for f in catalogue_module.PUBLISHED_FIELDS],
)
def test_a_mask_without_a_field_the_catalogue_reads_is_caught(
    monkeypatch: pytest.MonkeyPatch, constant: str, left_out: str
) -> None:
    """The comparison above fails for a mask that lacks any one of the fields the catalogue needs."""
    fields = getattr(catalogue_module, constant)
    monkeypatch.setattr(catalogue_module, constant, tuple(f for f in fields if f != left_out))
    masked, whole = both(NEEDS_EACH_FIELD)
    assert masked != whole


def test_the_catalogue_reads_only_the_fields_it_uses() -> None:
    docs = Recording()
    ids = seed(docs, [(item, story) for item, story in NEEDS_EACH_FIELD])
    docs.set("stories/s00", {**(docs.get("stories/s00") or {}), "body": "b" * 5000, "summary": "s"})
    docs.set("ml_items/s00", {**(docs.get("ml_items/s00") or {}), "SUMMARY": "s", "TAGS": "a|b"})
    observed(docs, ids)
    assert docs.returned <= {*catalogue_module.ITEM_FIELDS, *catalogue_module.STORY_FIELDS}
    assert docs.returned >= {"title", "status", "CREATION_TIMESTAMP", "active", "TITLE"}
