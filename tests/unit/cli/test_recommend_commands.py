"""``storyrec recommend --user`` and ``storyrec feeds refresh`` over the recommend stage's in-memory fakes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

import shared.cli.feeds
from shared.adapters.memory import InMemoryDocumentStore
from shared.cli import app
from shared.operate.recommend import recommend_for
from shared.personalize.model import PersonalizeError, ResourceNotFound
from shared.recommend.document import feed_story_ids
from tests.unit.recommend.fakes import CAMPAIGN, NOW, click, make_deps, recommender, story

pytestmark = pytest.mark.unit
ITEMS = [f"s{i}" for i in range(8)]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    docs = InMemoryDocumentStore()
    for sid in ITEMS:
        story(docs, sid)
    story(docs, "old", age_days=400)
    click(docs, "alice", "s0")
    click(docs, "alice", "s1", days_ago=0.5, event="like")
    click(docs, "bob", "s2")
    rec = recommender(["old", *ITEMS])
    deps = make_deps(rec, docs)
    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    monkeypatch.setattr(shared.cli.feeds, "feed_deps", lambda settings, clock=None: deps)

    class World:
        def __init__(self) -> None:
            self.docs, self.rec, self.deps = docs, rec, deps

        def run(self, *args: str) -> Any:
            return CliRunner().invoke(app, list(args))

    return World()


def test_recommend_shows_reads_beside_recommendations_and_writes_nothing(world: Any) -> None:
    result = recommend_for(world.deps, "alice")
    assert [line.story_id for line in result.recent] == ["s1", "s0"]  # newest first
    assert result.recent[0].title == "Title s1" and result.recent[0].detail.startswith("like")
    assert result.recommended[0].story_id == "old" and "dropped" in result.recommended[0].detail
    assert result.recommended[1].title == "Title s0" and result.solution_version_arn == CAMPAIGN.solution_version_arn
    # alice read s0 and s1: the fill drops them (the filter sees only a reader's last 200 events), so they are marked
    assert [line.story_id for line in result.recommended if "already read" in line.detail] == ["s0", "s1"]
    assert not any("dropped" in line.detail for line in result.recommended[3:])
    assert world.rec.calls[-1][1]["MIN_CREATED"]  # the feed's filter value
    assert world.docs.get("feeds/alice") is None
    shown = world.run("recommend", "--user", "alice")
    assert shown.exit_code == 0 and "Title s1" in shown.output and "recommended now" in shown.output
    body = json.loads(world.run("recommend", "-u", "alice", "--n", "3", "--json").stdout)
    assert len(body["recommended"]) == 3 and body["uid"] == "alice"


def test_recommend_exits_1_when_personalize_fails(world: Any) -> None:
    world.rec.fail = ResourceNotFound("ResourceNotFoundException", "no campaign")
    result = world.run("recommend", "--user", "alice")
    assert result.exit_code == 1 and "no campaign" in result.output


def test_feeds_refresh_one_user_then_every_active_user(world: Any) -> None:
    one = json.loads(world.run("feeds", "refresh", "--user", "alice", "--json").stdout)
    assert one["kind"] == "personalized" and one["stale"] is False
    assert world.docs.get("feeds/alice") is not None and world.docs.get("feeds/bob") is None
    everyone = world.run("feeds", "refresh", "--json")
    assert everyone.exit_code == 0, everyone.output
    assert json.loads(everyone.stdout)["personalized"] == 2 and world.docs.get("feeds/bob") is not None


def test_a_stale_refresh_exits_1_and_keeps_the_previous_feed(world: Any) -> None:
    assert world.run("feeds", "refresh", "-u", "alice").exit_code == 0
    before = feed_story_ids(world.docs.get("feeds/alice"))
    world.deps.clock = lambda: NOW + timedelta(hours=1)  # a later refresh (an equal generatedAt is a no-op)
    world.rec.fail = PersonalizeError("InvalidInputException", "down")
    result = world.run("feeds", "refresh", "-u", "alice", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["stale"] is True
    assert feed_story_ids(world.docs.get("feeds/alice")) == before
