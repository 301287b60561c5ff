"""Generated readers whose tastes the generator knows: a small closed-loop reader model.

Each reader has a taste over topics and an activity level (how often they open the app); each day brings
fresh stories with a topic and an appeal. A reader who visits sees the top of their feed and clicks each
story seen with a probability the generator knows (``click_probability``), so any feed's true quality is
known, and a recommender's measured lift can be checked against the truth. The loop closes through the
``Day`` it returns (what was shown and clicked), which a learner may train on; issue #24's full simulation
builds on this module.

Recommenders here are ``Policy`` functions from (readers, today's stories, reader indices) to scores:
``popular`` ranks by appeal for everyone (what a popularity count learns), ``personalised(noise)`` ranks
by the true click probability blurred by log-normal noise (more noise: a worse model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from shared.experiment.assign import Experiment
from shared.experiment.verdict import UserDay

Policy = Callable[["Readers", "Stories", np.ndarray, np.random.Generator], np.ndarray]


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
    """``n`` readers over ``topics`` topics, reproducible from ``seed``."""

    def __init__(self, n: int, topics: int = 8, seed: int = 0, base_rate: float = 0.05) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.n_topics, self.base_rate = n, topics, base_rate
        self.user_ids = [f"reader-{seed}-{i}" for i in range(n)]
        self.tastes = rng.dirichlet(np.full(topics, 0.3), n)
        self.activity = np.clip(rng.lognormal(np.log(0.3), 0.8, n), 0.02, 0.95)
        """Each reader's chance of opening the app on a day (persistent: the CUPED covariate's reason to work)."""
        self.depth = 2 + rng.poisson(4, n)
        """How many stories of the feed a visit sees."""

    def stories(self, rng: np.random.Generator, count: int = 60) -> Stories:
        return Stories(rng.integers(0, self.n_topics, count), rng.lognormal(0.0, 0.5, count))

    def click_probability(self, stories: Stories, users: np.ndarray) -> np.ndarray:
        """The true chance that each reader clicks each story when they see it (readers x stories)."""
        affinity = self.tastes[users][:, stories.topics] * self.n_topics
        return np.clip(self.base_rate * stories.appeal[None, :] * affinity, 0.0, 0.9)

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
            total += float(np.mean([p[i, : self.depth[i]].sum() for i in range(self.n)]))
        return total / days


def popular(readers: Readers, stories: Stories, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The popularity feed: the same ranking, by appeal, for everyone."""
    return np.broadcast_to(stories.appeal, (len(users), len(stories.appeal)))


def personalised(noise: float) -> Policy:
    """A model that knows each reader's true click probabilities up to log-normal noise of sd ``noise``."""

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
