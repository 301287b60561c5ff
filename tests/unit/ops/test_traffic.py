"""Generated traffic: same seed same bytes, the statistical shape it promises, and valid records."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.local.traffic import (
    EVENT_TYPES,
    TrafficConfig,
    build_catalogue,
    click_documents,
    deskdrop_event_mix,
    interaction_chunks,
    story_documents,
    user_documents,
    write_personalize_csvs,
)
from shared.capture.records import click_to_interaction, story_to_item, user_to_ml_user
from shared.schema import load_schema

pytestmark = pytest.mark.unit
NOW = datetime(2027, 1, 1, tzinfo=UTC)
SHAPE = TrafficConfig(seed=3, users=3_000, stories=2_000, interactions=120_000, days=20, chunk_events=30_000)


@cache
def shape_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions (with session and topic) and items of the SHAPE config, generated once."""
    catalogue = build_catalogue(SHAPE)
    parts = [
        pd.DataFrame(
            {
                "user": c.user,
                "story": c.story,
                "ts": c.timestamp,
                "event": np.asarray(EVENT_TYPES)[c.event],
                "value": c.value,
                "session": c.session,
            }
        )
        for c in interaction_chunks(SHAPE, catalogue)
    ]
    items = pd.DataFrame({"published": catalogue.published, "topic": catalogue.story_topic})
    return pd.concat(parts, ignore_index=True), items


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    config = TrafficConfig(seed=11, users=300, stories=200, interactions=5_000, days=5, chunk_events=700)
    write_personalize_csvs(config, tmp_path / "a")
    write_personalize_csvs(config, tmp_path / "b")
    write_personalize_csvs(
        TrafficConfig(seed=12, users=300, stories=200, interactions=5_000, days=5, chunk_events=700), tmp_path / "c"
    )
    for name in ("interactions", "items", "users"):
        a, b, c = ((tmp_path / d / f"{name}.csv").read_bytes() for d in "abc")
        assert a == b, name
        assert a != c, name


def test_exactly_the_interactions_asked_for() -> None:
    events, _ = shape_frames()
    assert len(events) == SHAPE.interactions
    tiny = TrafficConfig(interactions=1, users=5, stories=10)
    assert sum(len(c) for c in interaction_chunks(tiny, build_catalogue(tiny))) == 1


def test_story_popularity_follows_a_power_law() -> None:
    events, _ = shape_frames()
    counts = np.sort(events["story"].value_counts().to_numpy())[::-1]
    top_tenth = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_tenth > 0.4, f"the top 10% of stories get only {top_tenth:.0%} of clicks"
    ranks = np.arange(1, len(counts) + 1)
    head = slice(0, len(counts) // 2)  # the tail is cut off by the finite sample
    slope = np.polyfit(np.log(ranks[head]), np.log(counts[head]), 1)[0]
    assert -2.5 < slope < -0.5, f"rank-frequency slope {slope:.2f} is not a power law's"


def test_attention_decays_with_age_and_never_precedes_publication() -> None:
    events, items = shape_frames()
    age_hours = (events["ts"].to_numpy() - items["published"].to_numpy()[events["story"]]) / 3600
    assert age_hours.min() >= 0
    assert np.median(age_hours) < 2 * SHAPE.half_life_hours
    assert (age_hours > 7 * 24).mean() < 0.02
    # without decay the median age would be about a quarter of the period or more
    assert np.median(age_hours) < SHAPE.days * 24 / 8


def test_event_mix_matches_deskdrop() -> None:
    events, _ = shape_frames()
    shares = events["event"].value_counts(normalize=True)
    for event_type, expected in deskdrop_event_mix().items():
        assert abs(shares[event_type] - expected) < 0.01, (event_type, shares[event_type], expected)
    reads = events["event"] == "read"
    assert events.loc[reads, "value"].between(0, 86_400).all()
    assert events.loc[~reads, "value"].isna().all()


def test_sessions_belong_to_one_user_in_time_order_with_deskdrops_length() -> None:
    events, _ = shape_frames()
    per_session = events.groupby("session")
    assert (per_session["user"].nunique() == 1).all()
    assert (per_session["ts"].apply(lambda s: s.is_monotonic_increasing)).all()
    mean_length = per_session.size().mean()
    assert abs(mean_length - SHAPE.session_mean_events) < 0.15 * SHAPE.session_mean_events
    assert (per_session["ts"].max() - per_session["ts"].min()).median() < 30 * 60


def test_users_lean_to_their_topics_and_activity_is_heavy_tailed() -> None:
    events, items = shape_frames()
    events = events.assign(topic=items["topic"].to_numpy()[events["story"]])
    active = events.groupby("user").filter(lambda g: len(g) >= 30)
    top_share = active.groupby("user")["topic"].agg(lambda t: t.value_counts(normalize=True).iloc[0]).mean()
    global_top = events["topic"].value_counts(normalize=True).iloc[0]
    assert top_share > 1.5 * global_top, (top_share, global_top)
    per_user = events.groupby("user").size()
    assert per_user.mean() > 2 * per_user.median()


def test_csvs_follow_the_avro_schemas(tmp_path: Path) -> None:
    config = TrafficConfig(seed=5, users=200, stories=150, interactions=3_000, days=4)
    write_personalize_csvs(config, tmp_path)
    for name in ("interactions", "items", "users"):
        schema = load_schema(name)  # type: ignore[arg-type]
        with open(tmp_path / f"{name}.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == schema.header
        for row in rows[1:]:
            assert len(row) == len(schema.header)
            for column, value in zip(schema.columns, row, strict=True):
                if value == "":
                    assert column.nullable, (name, column.name)
                elif column.avro_type == "long":
                    assert int(value) > 1_600_000_000
                elif column.avro_type == "float":
                    float(value)
                elif column.name.endswith("_ID"):
                    assert 0 < len(value) <= 256 and value.isalnum()
                elif column.categorical:
                    assert all(0 < len(v) <= 1000 for v in value.split("|"))


def test_documents_pass_capture_and_match_the_csv(tmp_path: Path) -> None:
    config = TrafficConfig(seed=9, users=100, stories=80, interactions=2_000, days=3)
    catalogue = build_catalogue(config)
    items = [story_to_item(w.path.split("/")[1], w.data, now=NOW) for w in story_documents(config, catalogue)]
    users = [user_to_ml_user(w.path.split("/")[1], w.data) for w in user_documents(catalogue)]
    clicks = [click_to_interaction(w.path.split("/")[1], w.data, now=NOW) for w in click_documents(config, catalogue)]
    assert len({c["click_id"] for c in clicks}) == len(clicks) == config.interactions
    assert len(items) == config.stories and len(users) == config.users
    write_personalize_csvs(config, tmp_path)
    frame = pd.read_csv(tmp_path / "interactions.csv", keep_default_na=False, dtype=str)
    header = load_schema("interactions").header
    from_docs = [[_cell(c.get(k)) for k in header] for c in clicks]  # IMPRESSION: joined by the export, none here
    assert from_docs == frame[header].to_numpy().tolist()


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def test_a_period_ending_before_now_gives_no_click_from_the_future() -> None:
    now = datetime(2026, 11, 29, 15, 42, 7, tzinfo=UTC)
    config = TrafficConfig.ending_before(now, days=2, users=50, stories=40, interactions=3_000, seed=4)
    assert config == TrafficConfig.ending_before(
        now.replace(minute=1), days=2, users=50, stories=40, interactions=3_000, seed=4
    )
    latest = max(w.data["createdAt"] for w in click_documents(config, build_catalogue(config)))
    assert now - timedelta(days=2) < latest < now - timedelta(hours=12)
