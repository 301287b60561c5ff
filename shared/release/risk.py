"""Re-identification risk of a release, measured as the linkage attack it must resist.

An attacker knows ``k`` events of a target (stories read, with or without when, at the grain the release
shows) and looks for the released users whose history contains all of them. The target is *singled out*
when it is the only match, and *in a small group* when it is among fewer than ``group_size`` matches.
This is the unicity measure of de Montjoye et al. (2013) and the attack of Narayanan & Shmatikov (2008),
restricted to exact matching.

The attacker's knowledge comes from the target's *original* history (what they really read), coarsened to
the released grain; an event the release dropped (suppressed story, subsampled history) is still known to
the attacker, and then the target is no longer a match. A target with fewer than ``k`` distinct known
events is assumed to be known completely.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Point = tuple[Hashable, ...]
"""One known event as the attacker can state it: ``(item,)`` or ``(item, time)``."""

DEFAULT_KS = (1, 2, 3, 5)


@dataclass(frozen=True)
class RiskFigure:
    """The measured risk for one attacker: ``k`` known events, with or without times."""

    k: int
    with_time: bool
    targets: int
    singled_out: float
    """Share of targets that are the only released user matching what the attacker knows."""
    small_group: float
    """Share of targets among fewer than ``group_size`` matches (includes ``singled_out``)."""
    knowledge: str = "history"
    """``history``: the known events are drawn from the target's real history (the threshold's attacker);
    ``release``: from what the release kept of it (an attacker who knows which reads survived)."""

    def as_dict(self) -> dict[str, object]:
        """The figure for JSON (shares rounded to 4 decimals)."""
        return {
            "k": self.k,
            "with_time": self.with_time,
            "knowledge": self.knowledge,
            "targets": self.targets,
            "singled_out": round(self.singled_out, 4),
            "small_group": round(self.small_group, 4),
        }


@dataclass(frozen=True)
class RiskReport:
    """Every attacker measured against one release."""

    group_size: int
    figures: tuple[RiskFigure, ...]

    def figure(self, k: int, with_time: bool, knowledge: str = "history") -> RiskFigure | None:
        """The figure for ``k`` known events (with or without times), if measured."""
        found = (f for f in self.figures if (f.k, f.with_time, f.knowledge) == (k, with_time, knowledge))
        return next(found, None)

    def worst(self, k: int) -> RiskFigure:
        """The highest singled-out share for ``k`` events known from the real history (with or without times)."""
        return max((f for f in self.figures if f.k == k and f.knowledge == "history"), key=lambda f: f.singled_out)


class _Index:
    """Released users by the points they contain."""

    def __init__(self, released: Mapping[str, Iterable[Point]]) -> None:
        self.users_with: dict[Point, set[str]] = defaultdict(set)
        for user, points in released.items():
            for point in points:
                self.users_with[point].add(user)

    def matches(self, known: Sequence[Point]) -> set[str]:
        """The released users whose history contains every known point."""
        sets = sorted((self.users_with.get(p, set()) for p in known), key=len)
        if not sets:
            return set()
        found = set(sets[0])
        for other in sets[1:]:
            found &= other
            if not found:
                break
        return found


def anonymity_set(known: Sequence[Point], released: Mapping[str, Iterable[Point]]) -> set[str]:
    """The released users consistent with ``known`` (all of it in their history)."""
    return _Index(released).matches(known)


def measure(
    known: Mapping[str, Sequence[Point]],
    released: Mapping[str, Iterable[Point]],
    k: int,
    *,
    group_size: int = 2,
    draws: int = 1,
    seed: int = 0,
    index: _Index | None = None,
) -> tuple[float, float, int]:
    """Singled-out and small-group shares over the targets of ``known`` (released users only), and their count.

    For each target, ``draws`` random sets of ``k`` distinct known points are tried; each draw counts
    ``1/draws``. ``seed`` makes the draws repeatable.
    """
    index = index or _Index(released)
    rng = random.Random(seed)
    targets = sorted(u for u in known if u in released)
    singled = small = 0.0
    for user in targets:
        pool = sorted(set(known[user]), key=repr)
        for _ in range(draws):
            chosen = pool if len(pool) <= k else rng.sample(pool, k)
            found = index.matches(chosen)
            if user in found:
                singled += (len(found) == 1) / draws
                small += (len(found) < group_size) / draws
    n = len(targets)
    return (singled / n if n else 0.0, small / n if n else 0.0, n)


def measure_all(
    known_timed: Mapping[str, Sequence[Point]],
    released_timed: Mapping[str, Iterable[Point]],
    ks: Sequence[int] = DEFAULT_KS,
    *,
    group_size: int = 2,
    draws: int = 1,
    seed: int = 0,
    knowledge: str = "history",
) -> RiskReport:
    """Every ``k`` for both attackers: knowing ``(item, time)`` pairs, and knowing items only.

    Points are ``(item, time)``; the untimed attacker sees ``(item,)``. A release without times passes
    ``time = None`` everywhere, and then both attackers are the same.
    """
    untimed_known = {u: [(p[0],) for p in pts] for u, pts in known_timed.items()}
    untimed_released = {u: {(p[0],) for p in pts} for u, pts in released_timed.items()}
    figures = []
    for with_time, known, released in (
        (True, known_timed, released_timed),
        (False, untimed_known, untimed_released),
    ):
        index = _Index(released)
        for k in ks:
            one, few, n = measure(known, released, k, group_size=group_size, draws=draws, seed=seed + k, index=index)
            figures.append(RiskFigure(k, with_time, n, one, few, knowledge))
    return RiskReport(group_size, tuple(figures))
