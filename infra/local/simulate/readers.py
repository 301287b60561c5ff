"""The simulated readers, one at a time against the real stack: the agent-based side of the reader model.

The core (tastes, click probability, position bias, drift, every parameter) is ``infra/local/readers.py``,
shared with the online-test statistics tests; what is here is the simulation's own: readers as objects,
visits to a feed and a "latest" list, freshness as the story factor, clicks never repeated.

A reader has latent tastes over topics (a probability vector), a visit rate and a position bias. On a visit
they look at their feed and at a "latest" list; each story shown at position ``p`` is examined with
probability ``position_bias(p)`` and, once examined, clicked with probability
``click_scale * freshness(age) * taste[topic] * topics`` (capped at ``click_cap``), never twice. Two models:

* ``stable``: tastes drawn once, never change;
* ``drifting``: tastes move a little each day (toward a random Dirichlet draw), and new topics appear on a
  schedule, which some readers adopt.

The model is fixed before looking at the lift it produces: nothing here reads what the recommender does.
The generator knows each reader's tastes, so :meth:`ReaderModel.oracle_feed` ranks stories by the very
click probability a reader would apply: the upper bound any recommender can reach on these readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from infra.local.readers import (
    ReaderParams,
    add_topic,
    click_probability,
    draw_tastes,
    drift,
    expected_clicks,
    position_bias,
)


@dataclass
class Reader:
    """One simulated reader: their latent tastes (over every topic so far) and habits."""

    uid: str
    tastes: np.ndarray
    visit_rate: float
    read: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Story:
    """A published story as the generator knows it: its topic and publication time."""

    sid: str
    topic: int
    published_at: datetime


@dataclass(frozen=True)
class Shown:
    """A story a reader saw on a visit: which list, which 0-based position."""

    sid: str
    source: str
    position: int


@dataclass(frozen=True)
class Visit:
    """What one visit did: the stories examined (seen) in each list, and those clicked."""

    seen: tuple[Shown, ...]
    clicked: list[Shown]

    def seen_in(self, source: str) -> list[str]:
        """The story ids seen in one list (``feed`` or ``latest``), in list order, each once."""
        return list(dict.fromkeys(s.sid for s in self.seen if s.source == source))


class ReaderModel:
    """The generative model of :class:`ReaderParams`: new readers, visits, drift, oracle scores."""

    def __init__(self, params: ReaderParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        self.topics = params.topics

    def new_reader(self, uid: str) -> Reader:
        p = self.params
        tastes = draw_tastes(p, self.rng, self.topics)
        rate = float(self.rng.gamma(2.0, p.visit_rate_mean / 2.0))
        return Reader(uid, tastes, rate)

    def visits(self, reader: Reader) -> int:
        """How many visits the reader makes today (Poisson at their rate)."""
        return int(self.rng.poisson(reader.visit_rate))

    def story_topic(self) -> int:
        """The topic of a newly published story (uniform over the topics that exist)."""
        return int(self.rng.integers(self.topics))

    def appeal(self, reader: Reader, story: Story, now: datetime) -> float:
        """Click probability of the story once examined: taste x freshness, capped at ``click_cap``."""
        p = self.params
        taste = float(reader.tastes[story.topic]) if story.topic < len(reader.tastes) else 0.0
        age_h = max(0.0, (now - story.published_at).total_seconds() / 3600.0)
        fresh = math.pow(0.5, age_h / p.freshness_half_life_hours)
        return float(click_probability(p, taste, self.topics, fresh))

    def position_bias(self, position: int) -> float:
        return position_bias(self.params, position)

    def visit(
        self, reader: Reader, feed: list[str], latest: list[str], stories: dict[str, Story], now: datetime
    ) -> list[Shown]:
        """The stories the reader clicks on one visit (at most once each, ever), in click order."""
        return self.look(reader, feed, latest, stories, now).clicked

    def look(
        self, reader: Reader, feed: list[str], latest: list[str], stories: dict[str, Story], now: datetime
    ) -> Visit:
        """One visit: which stories of each list the reader examined (what the client records as seen: the
        impressions) and which of those they clicked (at most once each, ever), in list order.

        A story at position ``p`` is examined with probability ``position_bias(p)`` and, once examined, clicked
        with probability ``appeal``: the same chance of a click as one draw of their product."""
        p = self.params
        shown = [Shown(s, "feed", i) for i, s in enumerate(feed[: p.feed_shown])]
        shown += [Shown(s, "latest", i) for i, s in enumerate(latest[: p.latest_shown])]
        seen: list[Shown] = []
        clicked: list[Shown] = []
        for item in shown:
            if self.rng.random() >= self.position_bias(item.position):
                continue
            seen.append(item)
            story = stories.get(item.sid)
            if story is None or item.sid in reader.read:
                continue
            if self.rng.random() < self.appeal(reader, story, now):
                reader.read.add(item.sid)
                clicked.append(item)
        return Visit(tuple(seen), clicked)

    def click_type(self) -> str:
        return "like" if self.rng.random() < self.params.like_share else "open"

    def end_of_day(self, readers: list[Reader], day_index: int) -> bool:
        """Drift the tastes; on schedule add a topic. True when a topic was added."""
        p = self.params
        added = False
        if p.new_topic_every_days and day_index > 0 and day_index % p.new_topic_every_days == 0:
            self.topics += 1
            added = True
        for reader in readers:
            reader.tastes = drift(p, add_topic(p, reader.tastes, self.topics, self.rng, added), self.rng)
        return added

    def oracle_feed(self, reader: Reader, stories: dict[str, Story], now: datetime, size: int) -> list[str]:
        """The best feed for this reader now: unread stories by their true appeal, best first."""
        return self.oracle_feeds([reader], stories, now, size)[reader.uid]

    def oracle_feeds(
        self, readers: list[Reader], stories: dict[str, Story], now: datetime, size: int
    ) -> dict[str, list[str]]:
        """:meth:`oracle_feed` of each reader, the stories' freshness computed once: each story's score is the
        very float :meth:`appeal` gives (same operations, element-wise), ties broken by story id."""
        p = self.params
        sids = sorted(stories)
        if not sids:
            return {r.uid: [] for r in readers}
        topics = np.array([stories[sid].topic for sid in sids])
        fresh = np.array(
            [
                math.pow(
                    0.5,
                    max(0.0, (now - stories[sid].published_at).total_seconds() / 3600.0) / p.freshness_half_life_hours,
                )
                for sid in sids
            ]
        )
        out: dict[str, list[str]] = {}
        for reader in readers:
            tastes = np.zeros(max(int(topics.max()) + 1, len(reader.tastes)))
            tastes[: len(reader.tastes)] = reader.tastes
            score = click_probability(p, tastes[topics], self.topics, fresh)
            order = np.lexsort((np.arange(len(sids)), -score))  # best first, then by story id
            best: list[str] = []
            for i in order:
                if sids[i] not in reader.read:
                    best.append(sids[i])
                    if len(best) == size:
                        break
            out[reader.uid] = best
        return out

    def expected_clicks(self, reader: Reader, feed: list[str], stories: dict[str, Story], now: datetime) -> float:
        """Expected clicks on one look at ``feed`` (its shown head): the oracle's and the arms' common yardstick."""
        head = [(i, stories.get(sid)) for i, sid in enumerate(feed[: self.params.feed_shown]) if sid not in reader.read]
        seen = [(i, story) for i, story in head if story is not None]
        examined = np.array([self.position_bias(i) for i, _ in seen])
        return expected_clicks(examined, np.array([self.appeal(reader, story, now) for _, story in seen]))
