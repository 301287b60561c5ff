"""The reader model: the one place for how a generated reader chooses, shared by the online-test
statistics tests (issue #23) and ``storyrec-dev simulate`` (issue #24).

The core, used by both: a reader's **tastes** over topics are a Dirichlet draw; the **click
probability** of a story once examined is ``min(cap, click_scale * story_factor * taste[topic] * topics)``
(``taste[topic] * topics`` is 1 for an average taste); examination falls with position
(:func:`position_bias`); tastes may **drift** and new topics appear (:func:`drift`, :func:`add_topic`); and
since the generator knows the click probabilities, the **oracle** ranks by them and :func:`expected_clicks`
scores any feed against the truth. Every parameter is a field of :class:`ReaderParams` (docs/simulate.md).

Two thin models sit on it, each beside its users:

* :class:`Readers` (here): a vectorised cohort for fast statistics tests (thousands of readers a day as
  numpy arrays; the story factor is an appeal drawn per story, a visit examines its first ``depth`` stories);
  recommenders are ``Policy`` functions and :func:`run_test` writes a test's exposure rows.
* ``infra/local/simulate/readers.py``: one reader at a time, against the real stack (the story factor is
  freshness, the position bias is ``1 / (1 + p) ** position_decay``, a story is never clicked twice).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from shared.experiment.assign import Experiment
from shared.experiment.verdict import UserDay


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
    """Click probability of an examined story of factor 1 whose topic has the average taste (1 / topics)."""
    click_cap: float = 1.0
    """The highest click probability of an examined story."""
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

P = TypeVar("P", float, np.ndarray)


def draw_tastes(params: ReaderParams, rng: np.random.Generator, topics: int, n: int | None = None) -> np.ndarray:
    """Tastes over ``topics`` topics: one reader's vector, or ``n`` readers' rows."""
    return rng.dirichlet(np.full(topics, params.taste_concentration), n)


def click_probability(params: ReaderParams, taste: P, topics: int, factor: P) -> P:
    """The true chance of a click once examined, from the taste for the story's topic (scalars or arrays)."""
    return np.minimum(params.click_scale * factor * (taste * topics), params.click_cap)  # type: ignore[no-any-return]


def position_bias(params: ReaderParams, position: int) -> float:
    """The chance that a reader examines the story at 0-based ``position`` of a list."""
    return 1.0 / math.pow(1.0 + position, params.position_decay)


def expected_clicks(examined: np.ndarray, probability: np.ndarray) -> float:
    """Expected clicks on one look at a list: the oracle's and every recommender's common yardstick."""
    return float(np.sum(examined * probability))


def add_topic(
    params: ReaderParams, tastes: np.ndarray, topics: int, rng: np.random.Generator, added: bool
) -> np.ndarray:
    """Tastes padded to ``topics``; when a topic was just ``added``, adopters move half their taste to it."""
    if len(tastes) >= topics:
        return tastes
    tastes = np.append(tastes, np.zeros(topics - len(tastes)))
    if added and rng.random() < params.new_topic_adopters:
        tastes = tastes * 0.5
        tastes[-1] += 0.5
    return tastes


def drift(params: ReaderParams, tastes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One day's drift of tastes toward a fresh Dirichlet draw, renormalised."""
    if params.drift_per_day > 0:
        target = draw_tastes(params, rng, len(tastes))
        tastes = (1 - params.drift_per_day) * tastes + params.drift_per_day * target
    return tastes / tastes.sum()  # type: ignore[no-any-return]


# The vectorised cohort for the statistics tests.

Policy = Callable[["Readers", "Stories", np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class CohortParams:
    """The cohort's own parameters (beside :class:`ReaderParams`; docs/simulate.md lists them)."""

    activity_median: float = 0.3
    """Median chance that a reader opens the app on a day (log-normal across readers)."""
    activity_sigma: float = 0.8
    """Log-normal sd of that chance; each reader's is clipped to [0.02, 0.95]."""
    depth_mean: float = 4.0
    """A visit sees the first 2 + Poisson(depth_mean) stories of the feed."""
    appeal_sigma: float = 0.5
    """A story's appeal (its click factor) is log-normal(0, appeal_sigma)."""
    stories_per_day: int = 60


@dataclass(frozen=True)
class Stories:
    topics: np.ndarray
    appeal: np.ndarray


@dataclass(frozen=True)
class Day:
    """What happened on one day, per reader (index): impressions (stories seen) and feed clicks."""

    impressions: np.ndarray
    clicks: np.ndarray
    shown: np.ndarray
    """(readers, feed length) story indices of each reader's feed, best first."""
    clicked: np.ndarray
    """(readers, feed length) booleans: clicked, position by position (0 where not seen)."""


class Readers:
    """``n`` readers over ``topics`` topics, reproducible from ``seed``; ``base_rate`` is their click scale."""

    def __init__(
        self, n: int, topics: int = 8, seed: int = 0, base_rate: float = 0.05, cohort: CohortParams = CohortParams()
    ) -> None:
        rng = np.random.default_rng(seed)
        self.params = ReaderParams(topics=topics, click_scale=base_rate, click_cap=0.9)
        self.cohort = cohort
        self.n, self.n_topics = n, topics
        self.user_ids = [f"reader-{seed}-{i}" for i in range(n)]
        self.tastes = draw_tastes(self.params, rng, topics, n)
        self.activity = np.clip(rng.lognormal(np.log(cohort.activity_median), cohort.activity_sigma, n), 0.02, 0.95)
        """Each reader's chance of opening the app on a day (persistent: the CUPED covariate's reason to work)."""
        self.depth = 2 + rng.poisson(cohort.depth_mean, n)
        """How many stories of the feed a visit sees."""

    def stories(self, rng: np.random.Generator) -> Stories:
        count = self.cohort.stories_per_day
        return Stories(rng.integers(0, self.n_topics, count), rng.lognormal(0.0, self.cohort.appeal_sigma, count))

    def click_probability(self, stories: Stories, users: np.ndarray) -> np.ndarray:
        """The true chance that each reader clicks each story when they see it (readers x stories)."""
        taste = self.tastes[users][:, stories.topics]
        return click_probability(self.params, taste, self.n_topics, stories.appeal[None, :])

    def visit(self, stories: Stories, users: np.ndarray, policy: Policy, rng: np.random.Generator) -> Day:
        """One day for ``users`` served by ``policy``: who visits, what they see, what they click."""
        scores = policy(self, stories, users, rng)
        length = min(int(self.depth.max()), scores.shape[1])
        shown = np.argsort(-scores, axis=1)[:, :length]
        visits = rng.random(len(users)) < self.activity[users]
        seen = visits[:, None] & (np.arange(length)[None, :] < self.depth[users][:, None])
        p = np.take_along_axis(self.click_probability(stories, users), shown, axis=1)
        clicked = seen & (rng.random(p.shape) < p)
        return Day(seen.sum(axis=1), clicked.sum(axis=1), shown, clicked)

    def true_clicks_per_visit(self, policy: Policy, rng: np.random.Generator, days: int = 5) -> float:
        """A policy's expected clicks per visit, from the probabilities the generator knows (no sampling)."""
        users = np.arange(self.n)
        total = 0.0
        for _ in range(days):
            stories = self.stories(rng)
            shown = np.argsort(-policy(self, stories, users, rng), axis=1)
            p = np.take_along_axis(self.click_probability(stories, users), shown, axis=1)
            examined = np.arange(p.shape[1])[None, :] < self.depth[:, None]
            total += expected_clicks(examined, p) / self.n
        return total / days


def popular(readers: Readers, stories: Stories, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The popularity feed: the same ranking, by appeal, for everyone."""
    return np.broadcast_to(stories.appeal, (len(users), len(stories.appeal)))


def personalised(noise: float) -> Policy:
    """A model that knows each reader's true click probabilities up to log-normal noise of sd ``noise``
    (``noise`` 0: the oracle)."""

    def policy(readers: Readers, stories: Stories, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = readers.click_probability(stories, users)
        return np.log(p + 1e-9) + rng.normal(0.0, noise, p.shape)

    return policy


def run_test(
    readers: Readers,
    experiment: Experiment,
    policies: Mapping[str, Policy],
    days: int,
    seed: int,
    pre_days: int = 14,
    pre_policy: Policy | None = None,
) -> list[list[UserDay]]:
    """The exposure rows of a test, day by day (what the export writes): each reader in their arm, served by
    that arm's policy. Pre-test clicks come from ``pre_days`` days under ``pre_policy`` (default: the
    champion's), before the test starts."""
    rng = np.random.default_rng(seed)
    arms = np.array([experiment.arm(u) for u in readers.user_ids])
    everyone = np.arange(readers.n)
    pre = np.zeros(readers.n)
    for _ in range(pre_days):
        pre += readers.visit(readers.stories(rng), everyone, pre_policy or policies["champion"], rng).clicks
    out: list[list[UserDay]] = []
    eid = experiment.experiment_id or "none"
    for day in range(days):
        stories = readers.stories(rng)
        rows: list[UserDay] = []
        for arm, policy in policies.items():
            users = everyone[arms == arm]
            if len(users) == 0:
                continue
            result = readers.visit(stories, users, policy, rng)
            rows += [
                UserDay(eid, readers.user_ids[u], f"d{day:03d}", arm, float(imp), float(clk), float(pre[u]))
                for u, imp, clk in zip(users, result.impressions, result.clicks, strict=True)
                if imp > 0
            ]
        out.append(rows)
    return out
