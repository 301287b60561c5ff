"""Seeded readers who are shown feeds and click some of their stories: interactions with ``IMPRESSION``.

``feeds(informative=True)``: each reader has two taste clusters and a private liking of each story
(a per-reader, per-story term no collaborative model can learn from other readers). Sessions show a
feed of ``FEED`` stories drawn like a recommender would (popular and on-taste stories the reader has
not read); the reader clicks each with a probability rising with their liking. A reader who saw a
story's headline and passed has judged it: later, in a feed or elsewhere, they pick it with
``REJECTED_FACTOR`` of the probability. A few clicks come from elsewhere (search, latest: no
impression). Every click row carries the feed it came from as ``IMPRESSION``. Ground truth: a story
shown and not clicked is much less likely among the reader's later clicks, which a model that reads
impressions can use and one that does not cannot see.

``feeds(informative=False)``: the same clicks, but ``IMPRESSION`` lists the clicked story plus random
stories: impressions are noise, and a model must not get worse for reading them.

Returns ``(interactions, items)`` like :mod:`infra.local.personalize.synthetic`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400
START = 1_700_000_000
FEED = 10
REJECTED_FACTOR = 0.02


def feeds(
    n_users: int = 1500,
    n_items: int = 600,
    n_clusters: int = 8,
    seed: int = 0,
    informative: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Readers shown feeds; ``informative`` impressions (what was shown) or noise (random stories)."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(n_clusters, size=n_items)
    appeal = rng.pareto(1.2, size=n_items) + 0.1
    log_appeal = np.log(appeal)
    rows: list[tuple[str, str, int, str, str | None]] = []
    for u in range(n_users):
        tastes = rng.choice(n_clusters, size=2, replace=False)
        on_taste = np.isin(clusters, tastes)
        liking = 0.5 * log_appeal + 1.5 * on_taste + rng.normal(0.0, 1.5, size=n_items)
        click_p = 1.0 / (1.0 + np.exp(-2.0 * (liking - 2.0)))
        show_w = appeal * np.where(on_taste, 6.0, 1.0)
        read = np.zeros(n_items, dtype=bool)
        passed = np.ones(n_items)  # REJECTED_FACTOR once shown and not clicked
        t = START + int(rng.integers(0, 60 * DAY))
        budget = int(rng.integers(15, 45))
        while budget > 0:
            if rng.random() < 0.2:  # a click from elsewhere (no feed): the reader's own liking decides
                w = np.where(read, 0.0, np.exp(liking) * passed)
                item = int(rng.choice(n_items, p=w / w.sum()))
                read[item] = True
                rows.append((f"u{u}", f"i{item}", t, "read", None))
                budget -= 1
            else:
                w = np.where(read, 0.0, show_w)
                shown = rng.choice(n_items, size=FEED, replace=False, p=w / w.sum())
                clicks = rng.random(FEED) < click_p[shown] * passed[shown]
                clicked = shown[clicks]
                passed[shown[~clicks]] = REJECTED_FACTOR
                for k, item in enumerate(clicked):
                    read[item] = True
                    if informative:
                        impression = "|".join(f"i{s}" for s in shown)
                    else:
                        others = rng.choice(n_items, size=FEED - 1, replace=False)
                        impression = "|".join(f"i{s}" for s in [item, *others[others != item][: FEED - 1]])
                    rows.append((f"u{u}", f"i{item}", t + 60 * k, "read", impression))
                budget -= max(len(clicked), 1)
            t += int(rng.exponential(2 * DAY)) + 3600
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "IMPRESSION"])
    items = pd.DataFrame(
        {
            "ITEM_ID": [f"i{k}" for k in range(n_items)],
            "CREATION_TIMESTAMP": np.full(n_items, START - 30 * DAY, dtype=np.int64),
            "CATEGORY": [f"c{c}" for c in clusters],
        }
    )
    return interactions, items
