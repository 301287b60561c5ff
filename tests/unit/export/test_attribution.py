"""The attribution columns of the interactions CSV, and the IMPRESSION join (shared/export/attribution.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.export import ExportDeps, run_export
from shared.export.attribution import ImpressionIndex, attributed
from shared.ports import Snapshot
from shared.schema import load_schema
from tests.unit.export.factories import DAY, DAY_START, interaction, read_csv, seed

pytestmark = pytest.mark.unit

T = int((DAY_START + timedelta(hours=12)).timestamp())


def shown(
    impression_id: str, ids: list[str], at: int, *, user: str = "u1", rid: str | None = "rid-1", src: str | None = None
) -> Snapshot:
    data = {
        "USER_ID": user,
        "ITEM_IDS": ids,
        "RECOMMENDATION_ID": rid,
        "EVENT_ATTRIBUTION_SOURCE": src,
        "TIMESTAMP": at,
    }
    return Snapshot(impression_id, f"ml_impressions/{impression_id}", data)


def click(at: int = T, *, user: str = "u1", rid: str | None = "rid-1", src: str | None = None) -> dict[str, Any]:
    return {"USER_ID": user, "TIMESTAMP": at, "RECOMMENDATION_ID": rid, "EVENT_ATTRIBUTION_SOURCE": src}


def test_a_click_gets_the_impression_of_its_list() -> None:
    index = ImpressionIndex.build([shown("i1", ["s1", "s2"], T - 60)])
    row = attributed(click(), index)
    assert (row.get("IMPRESSION"), row["RECOMMENDATION_ID"], row["EVENT_ATTRIBUTION_SOURCE"]) == (
        "s1|s2",
        "rid-1",
        None,
    )


def test_the_source_wins_over_the_recommendation_id() -> None:
    index = ImpressionIndex.build([shown("i1", ["s3"], T - 60, rid=None, src="storyrec-control")])
    row = attributed(click(rid="rid-1", src="storyrec-control"), index)
    assert (row.get("IMPRESSION"), row["RECOMMENDATION_ID"], row["EVENT_ATTRIBUTION_SOURCE"]) == (
        "s3",
        None,
        "storyrec-control",
    )


def test_the_most_recent_impression_at_or_before_the_click_is_used() -> None:
    index = ImpressionIndex.build(
        [
            shown("i-old", ["s1"], T - 3600),
            shown("i-new", ["s2"], T - 10),
            shown("i-same-second", ["s3"], T),
            shown("i-after", ["s4"], T + 1),
        ]
    )
    assert attributed(click(), index).get("IMPRESSION") == "s3"
    assert attributed(click(T - 5), index).get("IMPRESSION") == "s2"
    assert attributed(click(T - 7200), index).get("IMPRESSION") is None


def test_same_day_or_the_day_before_only() -> None:
    day_start = T - T % 86_400
    index = ImpressionIndex.build([shown("i1", ["s1"], day_start - 86_400)])
    assert attributed(click(), index).get("IMPRESSION") == "s1"  # the start of the previous day
    index = ImpressionIndex.build([shown("i1", ["s1"], day_start - 86_401)])
    assert attributed(click(), index).get("IMPRESSION") is None


def test_other_readers_other_lists_and_unattributed_clicks_get_none() -> None:
    index = ImpressionIndex.build([shown("i1", ["s1"], T - 1)])
    assert attributed(click(user="u2"), index).get("IMPRESSION") is None
    assert attributed(click(rid="rid-2"), index).get("IMPRESSION") is None
    assert attributed(click(rid=None), index).get("IMPRESSION") is None


def test_ties_are_broken_by_the_impression_id_whatever_the_read_order() -> None:
    a, b = shown("i-a", ["s1"], T - 1), shown("i-b", ["s2"], T - 1)
    assert attributed(click(), ImpressionIndex.build([a, b])).get("IMPRESSION") == "s2"
    assert attributed(click(), ImpressionIndex.build([b, a])).get("IMPRESSION") == "s2"


@pytest.mark.parametrize(
    "data",
    [
        {"USER_ID": "u1", "ITEM_IDS": [f"s{i}" for i in range(26)], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["s1", "s1"], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["=cmd"], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["s|1"], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": "s1|s2", "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": [], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["s1", 2], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["s1"], "RECOMMENDATION_ID": "rid-1", "TIMESTAMP": "now"},
        {"USER_ID": "u1", "ITEM_IDS": ["s1"], "RECOMMENDATION_ID": "rid\n1", "TIMESTAMP": T},
        {"USER_ID": "u1", "ITEM_IDS": ["s1"], "EVENT_ATTRIBUTION_SOURCE": "newsletter", "TIMESTAMP": T},
        ["not", "a", "map"],
    ],
)
def test_an_impression_capture_could_not_have_written_is_never_joined(data: Any) -> None:
    index = ImpressionIndex.build([Snapshot("bad", "ml_impressions/bad", data)])
    assert index.skipped == 1 and len(index) == 0
    assert attributed(click(T + 1), index).get("IMPRESSION") is None


def _reference(impressions: list[Snapshot], c: dict[str, Any]) -> str | None:
    """The join as docs/export.md states it, by brute force."""
    earliest = c["TIMESTAMP"] - c["TIMESTAMP"] % 86_400 - 86_400
    for key in ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE"):
        if c[key] is None:
            continue
        fits = [
            (i.data["TIMESTAMP"], i.id, "|".join(i.data["ITEM_IDS"]))
            for i in impressions
            if i.data["USER_ID"] == c["USER_ID"]
            and i.data[key] == c[key]
            and earliest <= i.data["TIMESTAMP"] <= c["TIMESTAMP"]
        ]
        if fits:
            return max(fits)[2]
    return None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2"]),
            st.sampled_from(["rid-1", "rid-2", None]),
            st.sampled_from(["latest", "storyrec-control", None]),
            st.integers(-200_000, 10),
            st.lists(st.sampled_from(["s1", "s2", "s3", "s4"]), min_size=1, max_size=4, unique=True),
        ),
        max_size=12,
    ),
    st.sampled_from(["u1", "u2"]),
    st.sampled_from(["rid-1", "rid-2", None]),
    st.sampled_from(["latest", "storyrec-control", None]),
)
def test_the_join_is_the_stated_rule(
    rows: list[tuple[str, str | None, str | None, int, list[str]]], user: str, rid: str | None, src: str | None
) -> None:
    impressions = [
        shown(f"i{n}", ids, T + dt, user=u, rid=r, src=s)
        for n, (u, r, s, dt, ids) in enumerate(rows)
        if r is not None or s is not None
    ]
    c = click(user=user, rid=rid, src=src)
    assert attributed(c, ImpressionIndex.build(impressions)).get("IMPRESSION") == _reference(impressions, c)


def test_the_export_joins_impressions_captured_the_day_before(deps: ExportDeps) -> None:
    before = DAY_START - timedelta(hours=2)
    seed(
        deps.docs,
        "ml_impressions",
        [
            ("i1", {**shown("i1", ["s1", "s2"], int(before.timestamp())).data, "captured_at": before}),
            ("i2", {**shown("i2", ["s9"], T - 5, rid=None, src="latest").data, "captured_at": DAY_START}),
        ],
    )
    clicks = [
        interaction(1, DAY_START + timedelta(hours=12), RECOMMENDATION_ID="rid-1"),
        interaction(
            2, DAY_START + timedelta(hours=12, seconds=1), RECOMMENDATION_ID="rid-9", EVENT_ATTRIBUTION_SOURCE="latest"
        ),
        interaction(3, DAY_START + timedelta(hours=12, seconds=2)),
    ]
    clicks = [(cid, {**data, "USER_ID": "u1"}) for cid, data in clicks]
    seed(deps.docs, "ml_interactions", clicks)
    result = run_export(DAY, deps)
    assert result.rows("interactions") == 3
    [key] = [o.key for o in deps.import_store.list("interactions/")]
    rows = read_csv(deps.import_store.get_bytes(key))
    header = rows[0]
    assert header == load_schema("interactions").header
    cells = [
        {h: row[header.index(h)] for h in ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION")}
        for row in rows[1:]
    ]
    assert cells == [
        {"RECOMMENDATION_ID": "rid-1", "EVENT_ATTRIBUTION_SOURCE": "", "IMPRESSION": "s1|s2"},
        {"RECOMMENDATION_ID": "", "EVENT_ATTRIBUTION_SOURCE": "latest", "IMPRESSION": "s9"},
        {"RECOMMENDATION_ID": "", "EVENT_ATTRIBUTION_SOURCE": "", "IMPRESSION": ""},
    ]
