"""The simulated readers: the one place for the generative model and every parameter (docs/simulate.md).

A reader has latent tastes over topics (a probability vector), a visit rate and a position bias. On a visit
they look at their feed and at a "latest" list; each story shown at position ``p`` is examined with
probability ``position_bias(p)`` and, once examined, clicked with probability
``click_scale * taste[topic] * topics * freshness(age)`` (capped at 1), never twice. Two models:

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


@dataclass(frozen=True)
class ReaderParams:
    """Every parameter of the reader model (docs/simulate.md lists them with their meaning)."""

    topics: int = 8
    """Topics at the start; stories are published evenly across the topics that exist."""
    taste_concentration: float = 0.3
    """Dirichlet alpha of a reader's tastes: small = a reader likes few topics."""
    visit_rate_mean: float = 0.6
    """Mean visits per day; each reader's rate is drawn from a gamma with this mean (shape 2)."""
    position_decay: float = 0.9
    """Examination probability at 0-based position p: 1 / (1 + p) ** position_decay."""
    feed_shown: int = 10
    """Stories of the feed a visit shows (the feed's head)."""
    latest_shown: int = 10
    """Stories of the "latest" list (newest published first) a visit shows."""
    click_scale: float = 0.35
    """Click probability of an examined, brand-new story whose topic has the average taste (1 / topics)."""
    freshness_half_life_hours: float = 36.0
    """A story's appeal halves with each half-life of age."""
    like_share: float = 0.2
    """Share of clicks sent as ``like``; the rest are ``open``."""
    drift_per_day: float = 0.0
    """Daily step of tastes toward a fresh Dirichlet draw (0: stable)."""
    new_topic_every_days: int = 0
    """A new topic appears every this many days (0: never)."""
    new_topic_adopters: float = 0.3
    """Share of readers who take up a new topic (half of their taste moves to it)."""


MODELS: dict[str, ReaderParams] = {
    "stable": ReaderParams(),
    "drifting": ReaderParams(drift_per_day=0.03, new_topic_every_days=14),
}
"""The reader models ``--readers-model`` chooses from."""


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


class ReaderModel:
    """The generative model of :class:`ReaderParams`: new readers, visits, drift, oracle scores."""

    def __init__(self, params: ReaderParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        self.topics = params.topics

    def new_reader(self, uid: str) -> Reader:
        p = self.params
        tastes = self.rng.dirichlet([p.taste_concentration] * self.topics)
        rate = float(self.rng.gamma(2.0, p.visit_rate_mean / 2.0))
        return Reader(uid, tastes, rate)

    def visits(self, reader: Reader) -> int:
        """How many visits the reader makes today (Poisson at their rate)."""
        return int(self.rng.poisson(reader.visit_rate))

    def story_topic(self) -> int:
        """The topic of a newly published story (uniform over the topics that exist)."""
        return int(self.rng.integers(self.topics))

    def appeal(self, reader: Reader, story: Story, now: datetime) -> float:
        """Click probability of the story once examined: taste x freshness, capped at 1."""
        p = self.params
        taste = float(reader.tastes[story.topic]) if story.topic < len(reader.tastes) else 0.0
        age_h = max(0.0, (now - story.published_at).total_seconds() / 3600.0)
        fresh = math.pow(0.5, age_h / p.freshness_half_life_hours)
        return min(1.0, p.click_scale * taste * self.topics * fresh)

    def position_bias(self, position: int) -> float:
        return 1.0 / math.pow(1.0 + position, self.params.position_decay)

    def visit(
        self, reader: Reader, feed: list[str], latest: list[str], stories: dict[str, Story], now: datetime
    ) -> list[Shown]:
        """The stories the reader clicks on one visit (at most once each, ever), in click order."""
        p = self.params
        shown = [Shown(s, "feed", i) for i, s in enumerate(feed[: p.feed_shown])]
        shown += [Shown(s, "latest", i) for i, s in enumerate(latest[: p.latest_shown])]
        clicked: list[Shown] = []
        for item in shown:
            story = stories.get(item.sid)
            if story is None or item.sid in reader.read:
                continue
            if self.rng.random() < self.position_bias(item.position) * self.appeal(reader, story, now):
                reader.read.add(item.sid)
                clicked.append(item)
        return clicked

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
            if len(reader.tastes) < self.topics:
                reader.tastes = np.append(reader.tastes, np.zeros(self.topics - len(reader.tastes)))
                if added and self.rng.random() < p.new_topic_adopters:
                    reader.tastes = reader.tastes * 0.5
                    reader.tastes[-1] += 0.5
            if p.drift_per_day > 0:
                target = self.rng.dirichlet([p.taste_concentration] * self.topics)
                reader.tastes = (1 - p.drift_per_day) * reader.tastes + p.drift_per_day * target
            reader.tastes = reader.tastes / reader.tastes.sum()
        return added

    def oracle_feed(self, reader: Reader, stories: dict[str, Story], now: datetime, size: int) -> list[str]:
        """The best feed for this reader now: unread stories by their true appeal, best first."""
        scored = [(self.appeal(reader, s, now), sid) for sid, s in stories.items() if sid not in reader.read]
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [sid for _, sid in scored[:size]]

    def expected_clicks(self, reader: Reader, feed: list[str], stories: dict[str, Story], now: datetime) -> float:
        """Expected clicks on one look at ``feed`` (its shown head): the oracle's and the arms' common yardstick."""
        total = 0.0
        for i, sid in enumerate(feed[: self.params.feed_shown]):
            story = stories.get(sid)
            if story is not None and sid not in reader.read:
                total += self.position_bias(i) * self.appeal(reader, story, now)
        return total
