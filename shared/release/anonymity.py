"""(g, m)-anonymity by local suppression: no m released points single anyone out, even to an informed attacker.

Terrovitis, Mamoulis & Kalnis (2008), *Privacy-preserving anonymization of set-valued data*: a release
is k^m-anonymous when every combination of at most ``m`` points that some user has is shared by at
least ``g`` users. Here it is reached by local suppression: while some user has a combination held by
fewer than ``g`` users, that user loses one point of them. It only
removes, so it ends; a user with no point left leaves the release.

Each round enumerates every user's ``m``-subsets, so histories should be capped first; a history longer
than ``MAX_HISTORY`` points first loses its least shared points (C(20, 3) = 1,140 subsets a user).

Which point goes: the one in most of the user's rare combinations, and among those the least shared.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping

Point = tuple[Hashable, ...]
MAX_HISTORY = 20
"""Longest history the enumeration accepts (its cost grows as C(n, m) per user and round)."""


def rare_combinations(points: Mapping[str, set[Point]], m: int, group_size: int) -> dict[str, list[tuple[Point, ...]]]:
    """Per user, its ``min(m, n)``-point combinations contained in fewer than ``group_size`` users' points."""
    combos = {u: list(itertools.combinations(sorted(p, key=repr), min(m, len(p)))) for u, p in points.items() if p}
    held = Counter(c for found in combos.values() for c in found if len(c) == m)
    users_with: dict[Point, set[str]] = defaultdict(set)
    for user, found in points.items():
        for point in found:
            users_with[point].add(user)

    def support(combo: tuple[Point, ...]) -> int:
        if len(combo) == m:  # only users with m points or more can hold it, and each lists it once
            return held[combo]
        return len(set.intersection(*(users_with[p] for p in combo)))

    return {u: rare for u, found in combos.items() if (rare := [c for c in found if support(c) < group_size])}


def anonymise(points: Mapping[str, set[Point]], m: int, group_size: int) -> dict[str, set[Point]]:
    """The points left once every user's ``m``-combinations are each held by ``group_size`` users or more.

    Combinations of fewer than ``m`` points need no check of their own: each lies in some ``m``-combination
    of the same user, held by at least as many users. A user with fewer than ``m`` points is checked on all
    of them.
    """
    holders = Counter(p for found in points.values() for p in found)
    left = {u: set(sorted(p, key=lambda x: (-holders[x], repr(x)))[:MAX_HISTORY]) for u, p in points.items() if p}
    while rare := rare_combinations(left, m, group_size):
        holders = Counter(p for found in left.values() for p in found)
        for user, combos in rare.items():
            in_rare = Counter(p for c in combos for p in c)
            # the point in most rare combinations; among equals, the least shared one
            worst = max(in_rare, key=lambda p: (in_rare[p], -holders[p], repr(p)))
            left[user].discard(worst)
        left = {u: p for u, p in left.items() if p}
    return left
