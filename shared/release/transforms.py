"""The transformations that lower re-identification risk: coarser time, rare stories out, long histories cut.

Each works on :class:`Event` lists held in memory and is deterministic for a given ``seed`` (the
publisher derives it from the secret key, so nobody else can redo the random subsample).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

TimeGrain = Literal["hour", "day", "week", "order"]
TIME_GRAINS: tuple[TimeGrain, ...] = ("hour", "day", "week", "order")
_GRAIN_SECONDS = {"hour": 3_600, "day": 86_400, "week": 7 * 86_400}
_MONDAY = 4 * 86_400
"""1970-01-01 was a Thursday: weeks start on the Monday 00:00 UTC (epoch + 4 days, modulo 7 days)."""


@dataclass(frozen=True)
class Event:
    """One interaction: who, what, when (Unix seconds), and its row in the input."""

    user: str
    item: str
    timestamp: int
    row: int


@dataclass(frozen=True)
class TransformSettings:
    """How much to coarsen and thin. ``None``/``0`` switches a transformation off."""

    time_grain: TimeGrain = "week"
    min_item_readers: int = 0
    """Events on stories with fewer distinct readers (in the release) are removed."""
    max_items_per_user: int | None = None
    """Users who read more stories keep a random subsample of this many (with all their events on them)."""
    min_events_per_user: int = 5

    def __post_init__(self) -> None:
        if self.time_grain not in TIME_GRAINS:
            raise ValueError(f"time_grain must be one of {', '.join(TIME_GRAINS)}")
        if self.max_items_per_user is not None and self.max_items_per_user < 1:
            raise ValueError("max_items_per_user must be at least 1")
        if self.min_item_readers < 0 or self.min_events_per_user < 1:
            raise ValueError("min_item_readers must be ≥ 0 and min_events_per_user ≥ 1")


def coarse_time(timestamp: int, grain: TimeGrain) -> int:
    """``timestamp`` rounded down to the start of its hour, day or week (Monday 00:00 UTC)."""
    if grain == "order":
        raise ValueError("'order' has no per-event time: use released_times")
    size = _GRAIN_SECONDS[grain]
    offset = _MONDAY if grain == "week" else 0
    return (timestamp - offset) // size * size + offset


def released_times(events: Sequence[Event], grain: TimeGrain) -> list[int]:
    """The TIMESTAMP each event is released with: its coarse time, or (``order``) its rank in its user's history."""
    if grain != "order":
        return [coarse_time(e.timestamp, grain) for e in events]
    ranks = [0] * len(events)
    by_user: dict[str, list[int]] = defaultdict(list)
    for position, event in enumerate(events):
        by_user[event.user].append(position)
    for positions in by_user.values():
        positions.sort(key=lambda p: (events[p].timestamp, events[p].row))
        for rank, position in enumerate(positions):
            ranks[position] = rank
    return ranks


def drop_thin_users(events: Sequence[Event], min_events: int) -> list[Event]:
    """Only the events of users with at least ``min_events`` events."""
    counts = Counter(e.user for e in events)
    return [e for e in events if counts[e.user] >= min_events]


def cap_histories(events: Sequence[Event], cap: int | None, seed: int) -> list[Event]:
    """Each user's history cut to a uniform random subsample of ``cap`` of its stories (all events on them kept)."""
    if cap is None:
        return list(events)
    stories: dict[str, set[str]] = defaultdict(set)
    for event in events:
        stories[event.user].add(event.item)
    kept: dict[str, set[str]] = {}
    for user, read in stories.items():
        ordered = sorted(read)
        # one generator per user: a user's sample never depends on who else is in the data (the DP counts rely on it)
        kept[user] = set(ordered if len(ordered) <= cap else random.Random(f"{seed}:{user}").sample(ordered, cap))
    return [e for e in events if e.item in kept[e.user]]


def suppress_rare_items(events: Sequence[Event], min_readers: int) -> list[Event]:
    """Events on stories read by at least ``min_readers`` distinct users."""
    if min_readers <= 1:
        return list(events)
    readers: dict[str, set[str]] = defaultdict(set)
    for event in events:
        readers[event.item].add(event.user)
    return [e for e in events if len(readers[e.item]) >= min_readers]


def apply(events: Sequence[Event], settings: TransformSettings, seed: int) -> list[Event]:
    """The released events: thin users out, then histories capped, then rare stories suppressed.

    ``min_events_per_user`` decides who is eligible, on the full history; capping and suppression come
    after it and do not remove a user again (repeating the filters cascades until nobody is left).
    """
    eligible = drop_thin_users(events, settings.min_events_per_user)
    return suppress_rare_items(cap_histories(eligible, settings.max_items_per_user, seed), settings.min_item_readers)
