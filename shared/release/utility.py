"""What a data consumer keeps: recommenders trained on the release vs on the original, scored alike.

Each user's newest stories (``holdout`` share) are held out. Two plain recommenders are trained twice —
on the original without them, and on the release without them — and both are scored on the same
held-out original stories: recall@``n``. The ratio release ÷ original is what the release keeps.

Models: *popularity* (distinct readers) and *item-kNN* (cosine over co-readership, the classic
item-to-item recommender). Both are pure Python so that the release can measure itself anywhere; the
benchmark adds ALS (``benchmarks/bench_release.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shared.release.transforms import Event

MAX_KNN_HISTORY = 300
"""Longer histories add little to co-readership and cost quadratically: item-kNN skips them."""

Histories = Mapping[str, set[str]]
Recommender = Callable[[Histories], Callable[[str, int], list[str]]]
"""Trained on histories; returns ``recommend(user, n)``."""


@dataclass(frozen=True)
class UtilityFigure:
    """One model's recall on the held-out events, trained on the original and on the release."""

    model: str
    original: float
    release: float

    @property
    def ratio(self) -> float:
        """Release ÷ original (0 when the original scores 0)."""
        return self.release / self.original if self.original else 0.0

    def as_dict(self) -> dict[str, object]:
        """The figure for JSON (4 decimals)."""
        return {
            "model": self.model,
            "recall_original": round(self.original, 4),
            "recall_release": round(self.release, 4),
            "ratio": round(self.ratio, 4),
        }


def histories(events: Sequence[Event]) -> dict[str, set[str]]:
    """The stories each user read."""
    found: dict[str, set[str]] = defaultdict(set)
    for event in events:
        found[event.user].add(event.item)
    return dict(found)


def popularity(train: Histories) -> Callable[[str, int], list[str]]:
    """Most-read stories first (ties by id), minus what the user already read."""
    readers: dict[str, int] = defaultdict(int)
    for items in train.values():
        for item in items:
            readers[item] += 1
    ranked = sorted(readers, key=lambda i: (-readers[i], i))

    def recommend(user: str, n: int) -> list[str]:
        seen = train.get(user, set())
        return [i for i in ranked if i not in seen][:n]

    return recommend


def item_knn(train: Histories) -> Callable[[str, int], list[str]]:
    """Stories co-read with the user's, by cosine similarity; popularity for users without history."""
    readers: dict[str, int] = defaultdict(int)
    together: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for items in train.values():
        if len(items) > MAX_KNN_HISTORY:
            continue
        ordered = sorted(items)
        for a in ordered:
            readers[a] += 1
            row = together[a]
            for b in ordered:
                if a != b:
                    row[b] += 1
    fallback = popularity(train)

    def recommend(user: str, n: int) -> list[str]:
        seen = train.get(user, set())
        scores: dict[str, float] = defaultdict(float)
        for a in seen:
            for b, both in together[a].items():
                if b not in seen:
                    scores[b] += both / math.sqrt(readers[a] * readers[b])
        ranked = sorted(scores, key=lambda i: (-scores[i], i))[:n]
        return ranked + [i for i in fallback(user, n + len(ranked)) if i not in scores][: n - len(ranked)]

    return recommend


MODELS: dict[str, Recommender] = {"popularity": popularity, "item_knn": item_knn}


def hold_out(events: Sequence[Event], share: float, min_items: int = 5) -> dict[str, set[str]]:
    """Per user with at least ``min_items`` stories: the newest ``share`` of them (by first read, at least one)."""
    first: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for event in events:
        seen = first[event.user].get(event.item)
        if seen is None or (event.timestamp, event.row) < seen:
            first[event.user][event.item] = (event.timestamp, event.row)
    held = {}
    for user, items in first.items():
        if len(items) >= min_items:
            newest = sorted(items, key=lambda i: items[i], reverse=True)
            held[user] = set(newest[: max(1, int(len(newest) * share))])
    return held


def recall(recommend: Callable[[str, int], list[str]], train: Histories, test: Histories, n: int) -> float:
    """Mean over users of |top-n ∩ new stories read after the cut| ÷ min(n, |new stories|)."""
    scores = []
    for user, later in test.items():
        new = later - train.get(user, set())
        if new:
            scores.append(len(set(recommend(user, n)) & new) / min(n, len(new)))
    return sum(scores) / len(scores) if scores else 0.0


def measure(
    original: Sequence[Event],
    released: Sequence[Event],
    *,
    holdout: float = 0.2,
    n: int = 10,
    models: Mapping[str, Recommender] = MODELS,
) -> tuple[UtilityFigure, ...]:
    """Each model's recall@``n`` trained on the original vs on the release.

    Held out: each original user's newest ``holdout`` share of stories (as Personalize's offline metrics
    do). Both trainings exclude those (user, story) pairs; each test user is looked up under its original
    id in both (the publisher knows the mapping; consumers never need it).
    """
    test = hold_out(original, holdout)
    original_train = _without(histories(original), test)
    release_train = _without(histories(released), test)
    figures = []
    for name, model in models.items():
        base = recall(model(original_train), original_train, test, n)
        kept = recall(model(release_train), original_train, test, n)
        figures.append(UtilityFigure(name, base, kept))
    return tuple(figures)


def _without(found: dict[str, set[str]], held: Mapping[str, set[str]]) -> dict[str, set[str]]:
    return {u: items - held.get(u, set()) for u, items in found.items() if items - held.get(u, set())}
