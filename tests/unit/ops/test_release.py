"""The release's measures and transforms: risk against hand-computed cases, refusal, Hypothesis properties."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.publish import (
    PublishOptions,
    PublishRefused,
    anonymise_events,
    known_and_released,
    pseudonym,
    publish_dataset,
    subsample_seed,
)
from shared.release import anonymity, dp, risk, transforms, utility
from shared.release.transforms import Event, TransformSettings
from tests.unit.ops.test_publish import KEY, LEGACY, exported

pytestmark = pytest.mark.unit
TIGHT = {"max_items_per_user": 5, "min_item_readers": 30}
"""The fixture's 300 stories over 3 days are denser than Deskdrop: the defaults single out 14 % there."""


# --- the risk measure, by hand ---------------------------------------------------------------------------------
RELEASED = {
    "ann": {("a",), ("b",), ("c",)},
    "bob": {("a",), ("b",), ("d",)},
    "cat": {("a",), ("e",)},
}


def test_anonymity_sets_by_hand() -> None:
    assert risk.anonymity_set([("a",)], RELEASED) == {"ann", "bob", "cat"}
    assert risk.anonymity_set([("a",), ("b",)], RELEASED) == {"ann", "bob"}
    assert risk.anonymity_set([("c",)], RELEASED) == {"ann"}
    assert risk.anonymity_set([("a",), ("z",)], RELEASED) == set()


def test_singled_out_shares_by_hand() -> None:
    known = {u: sorted(points) for u, points in RELEASED.items()}
    # k = 3: ann {a,b,c} unique, bob {a,b,d} unique, cat knows all it has {a,e}: unique -> 3/3
    assert risk.measure(known, RELEASED, 3)[:2] == (1.0, 1.0)
    # k = 1 with every draw averaged over many draws: ann 1/3 (c), bob 1/3 (d), cat 1/2 (e) -> (1/3+1/3+1/2)/3
    one, _, n = risk.measure(known, RELEASED, 1, draws=3000, seed=1)
    assert n == 3 and one == pytest.approx((1 / 3 + 1 / 3 + 1 / 2) / 3, abs=0.02)
    # group size 4: everyone is always in a group smaller than 4
    assert risk.measure(known, RELEASED, 1, group_size=4)[1] == 1.0


def test_a_known_read_the_release_dropped_protects_the_target() -> None:
    known = {"ann": [("a",), ("b",), ("c",)]}
    released = {"ann": {("a",), ("b",)}, "bob": {("a",), ("b",), ("c",)}}
    assert risk.measure(known, released, 3)[:2] == (0.0, 0.0)  # bob matches, ann does not: nobody singled out


def test_timed_and_untimed_attackers() -> None:
    known = {"ann": [("a", 1), ("b", 1)], "bob": [("a", 2), ("b", 1)]}
    report = risk.measure_all(known, {u: set(p) for u, p in known.items()}, (2,))
    assert report.figure(2, True) is not None and report.figure(2, True).singled_out == 1.0  # type: ignore[union-attr]
    assert report.figure(2, False).singled_out == 0.0  # type: ignore[union-attr]
    assert report.worst(2).with_time


# --- transforms ----------------------------------------------------------------------------------------------
events_strategy = st.lists(
    st.tuples(
        st.sampled_from([f"u{i}" for i in range(12)]),
        st.sampled_from([f"s{i}" for i in range(15)]),
        st.integers(1_600_000_000, 1_700_000_000),
    ),
    max_size=300,
).map(lambda rows: [Event(u, i, t, n) for n, (u, i, t) in enumerate(rows)])


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.integers(1, 6), st.one_of(st.none(), st.integers(1, 8)), st.integers(0, 5), st.integers())
def test_transforms_only_remove_and_respect_their_bounds(
    events: list[Event], min_events: int, cap: int | None, readers: int, seed: int
) -> None:
    chosen = TransformSettings("week", readers, cap, min_events)
    out = transforms.apply(events, chosen, seed)
    assert set(out) <= set(events) and out == sorted(out, key=lambda e: e.row)
    total = Counter(e.user for e in events)
    assert all(total[e.user] >= min_events for e in out)
    stories = defaultdict(set)
    for e in out:
        stories[e.user].add(e.item)
    if cap is not None:
        assert all(len(s) <= cap for s in stories.values())
    readers_of = Counter(i for s in stories.values() for i in s)
    assert all(readers_of[e.item] >= readers for e in out)
    assert out == transforms.apply(events, chosen, seed)  # deterministic for a seed


@given(st.integers(0, 2_000_000_000))
def test_coarse_times(timestamp: int) -> None:
    for grain, size in (("hour", 3_600), ("day", 86_400), ("week", 7 * 86_400)):
        start = transforms.coarse_time(timestamp, grain)  # type: ignore[arg-type]
        assert start <= timestamp < start + size
    assert (transforms.coarse_time(timestamp, "week") // 86_400 + 3) % 7 == 0  # a Monday (1970-01-01: Thursday)


@given(events_strategy)
def test_order_grain_ranks_each_history(events: list[Event]) -> None:
    ranks = transforms.released_times(events, "order")
    by_user = defaultdict(list)
    for event, rank in zip(events, ranks, strict=True):
        by_user[event.user].append((event.timestamp, event.row, rank))
    for history in by_user.values():
        assert [r for _, _, r in sorted(history)] == list(range(len(history)))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    st.binary(min_size=32, max_size=48),
)
def test_pseudonyms_one_per_user_and_not_the_uid(uids: list[str], key: bytes) -> None:
    names = [pseudonym(key, u) for u in uids]
    assert len(set(names)) == len(uids)  # no two users share one, no user gets two (a function of the uid)
    assert all(n not in uids and len(n) == 32 for n in names)
    assert {pseudonym(bytes(reversed(key)) + b"x", u) for u in uids}.isdisjoint(names)  # another key: unlinkable


# --- differential privacy ------------------------------------------------------------------------------------
def test_geometric_noise_has_the_stated_spread() -> None:
    rng = random.Random(5)
    draws = [dp.geometric_noise(1.0, 10, rng) for _ in range(20_000)]
    assert abs(statistics.mean(draws)) < 0.3
    assert statistics.pstdev(draws) == pytest.approx(dp.noise_scale(1.0, 10), rel=0.05)
    ratio = draws.count(0) / max(1, draws.count(10))  # P(0)/P(Δ) = e^ε
    assert ratio == pytest.approx(2.718, rel=0.25)


@given(st.dictionaries(st.text(max_size=5), st.integers(0, 1000), max_size=30), st.floats(0.05, 5), st.integers(1, 20))
def test_noisy_counts_keep_the_stories_and_stay_non_negative(counts: dict[str, int], eps: float, cap: int) -> None:
    noisy = dp.noisy_counts(counts, eps, cap, random.Random(0))
    assert set(noisy) == set(counts) and all(v >= 0 for v in noisy.values())


# --- utility -------------------------------------------------------------------------------------------------
def test_utility_is_one_for_an_unchanged_release_and_drops_when_rows_go() -> None:
    rng = random.Random(3)
    events = [
        Event(f"u{u}", f"s{rng.randrange(30) if u % 2 else rng.randrange(8)}", t, n)
        for n, (u, t) in enumerate((u, t) for u in range(60) for t in range(20))
    ]
    same = utility.measure(events, events)
    assert [f.ratio for f in same] == [1.0, 1.0] and all(f.original > 0 for f in same)
    thinner = utility.measure(events, [e for e in events if e.item != "s0"])
    assert thinner[0].release < thinner[0].original


# --- the publisher -------------------------------------------------------------------------------------------
def _options(**overrides: object) -> PublishOptions:
    values: dict[str, object] = {"key": KEY, "min_users": 100}
    values.update(overrides)
    return PublishOptions(**values)  # type: ignore[arg-type]


def test_a_release_above_the_threshold_is_refused_and_nothing_written(tmp_path: Path) -> None:
    data = exported()
    exact = {**LEGACY, "max_singled_out": 0.05}
    with pytest.raises(PublishRefused, match=r"knows 3 of a user's reads and when singles out \d+\.\d% of the"):
        publish_dataset(data.backup, tmp_path / "release", _options(time_grain="hour", **exact))
    assert list(tmp_path.iterdir()) == []


def test_a_tight_release_is_written_with_its_datasheet(tmp_path: Path) -> None:
    data = exported()
    result = publish_dataset(data.backup, tmp_path / "release", _options(**TIGHT))
    names = {p.name for p in result.out_dir.iterdir()}
    assert names == {"interactions.csv", "items.csv", "item_counts.csv", "release.json", "README.md"}
    assert result.risk.worst(3).singled_out <= 0.05
    manifest = json.loads((result.out_dir / "release.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((result.out_dir / name).read_bytes()).hexdigest() == digest
    assert manifest["differential_privacy"]["epsilon"] == 1.0 and manifest["settings"]["time_grain"] == "week"
    assert "key" not in manifest["settings"] and {u["model"] for u in manifest["utility"]} == {"popularity", "item_knn"}
    rows = list(csv.DictReader(io.StringIO((result.out_dir / "interactions.csv").read_text())))
    assert all((int(r["TIMESTAMP"]) // 86_400 + 3) % 7 == 0 for r in rows)  # Mondays
    assert [(r["TIMESTAMP"], r["USER_ID"]) for r in rows] == sorted((r["TIMESTAMP"], r["USER_ID"]) for r in rows)
    sheet = (result.out_dir / "README.md").read_text()
    for heading in ("## Motivation", "## Composition", "## Measured re-identification risk", "## Utility", "## Uses"):
        assert heading in sheet
    assert "CC BY-NC 4.0" in sheet and "ε = 1.0" in sheet
    per_user = Counter(r["USER_ID"] for r in rows)
    raw = {uid for uid in data.uids}
    assert raw.isdisjoint(per_user) and len(per_user) == result.users
    stories = defaultdict(set)
    for r in rows:
        stories[r["USER_ID"]].add(r["ITEM_ID"])
    assert max(len(s) for s in stories.values()) <= 5


def test_the_defaults_reach_five_percent_on_deskdrop(deskdrop_dir: Path) -> None:
    """On Deskdrop, or on generated data in its format when it is absent (tests/conftest.py)."""
    with open(deskdrop_dir / "users_interactions.csv", encoding="utf-8") as fh:
        events = [
            Event(r["personId"], r["contentId"], int(r["timestamp"]), n) for n, r in enumerate(csv.DictReader(fh))
        ]
    options = _options()
    eligible = transforms.drop_thin_users(events, options.min_events_per_user)
    released = transforms.apply(events, options.transform_settings(), subsample_seed(options.key))
    released = anonymise_events(released, options)
    known, points = known_and_released(eligible, released, transforms.released_times(released, "week"), "week")
    report = risk.measure_all(known, points, (3,), draws=3)
    assert len(points) >= options.min_users and report.worst(3).singled_out <= 0.05
    informed = risk.measure_all({u: sorted(p, key=repr) for u, p in points.items()}, points, (3,), knowledge="release")
    assert max(f.singled_out for f in informed.figures) == 0.0


# --- (g, m)-anonymity ----------------------------------------------------------------------------------------
def test_anonymity_suppresses_the_rare_combination_by_hand() -> None:
    points = {"ann": {("a",), ("b",), ("c",)}, "bob": {("a",), ("b",), ("c",)}, "cat": {("a",), ("b",), ("d",)}}
    # cat's {a, b, d} is unique; d is in all of cat's rare combinations, so d goes, and {a, b} is shared by 3
    assert anonymity.anonymise(points, 3, 2) == {**points, "cat": {("a",), ("b",)}}
    assert anonymity.anonymise({"ann": {("a",)}}, 3, 2) == {}  # alone with a: nobody to hide among


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"u{i}" for i in range(15)]),
        st.sets(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 2)), max_size=8),
        max_size=15,
    ),
    st.integers(1, 3),
    st.integers(2, 3),
)
def test_no_m_released_points_single_anyone_out(points: dict[str, set[risk.Point]], m: int, g: int) -> None:
    left = anonymity.anonymise(points, m, g)
    assert all(left[u] <= points[u] and left[u] for u in left)
    assert anonymity.rare_combinations(left, m, g) == {}
    informed = {u: sorted(p, key=repr) for u, p in left.items()}
    for k in range(1, m + 1):
        assert risk.measure(informed, left, k, group_size=g, draws=2)[:2] == (0.0, 0.0)


def test_an_anonymised_release_survives_the_informed_attacker(tmp_path: Path) -> None:
    data = exported()
    result = publish_dataset(data.backup, tmp_path / "release", _options())  # the defaults, (2, 3)-anonymity on
    informed = [f for f in result.risk.figures if f.knowledge == "release"]
    assert informed and all(f.singled_out == 0.0 for f in informed)
    assert "(g, m)-anonymity" in (result.out_dir / "README.md").read_text()
