"""What the generated traffic models: the world's constants and :class:`TrafficConfig`, its knobs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

EVENT_TYPES = ("open", "read", "comment", "like", "save")
DESKDROP_EVENT_COUNTS = {"VIEW": 61_086, "LIKE": 5_745, "BOOKMARK": 2_463, "COMMENT CREATED": 1_611}
"""Deskdrop's users_interactions.csv event counts (FOLLOW, 1,407 rows, has no storyrec counterpart)."""
TOPICS = ("tech", "cloud", "ai", "mobile", "fintech", "crypto", "security", "science", "business", "politics")
SOURCES = ("wire", "techdaily", "cloudnews", "thestack", "fintimes", "labnotes")
DEVICES = ("web", "android", "ios")
DEVICE_SHARES = (0.5, 0.3, 0.2)
LANGUAGES = ("en", "pt")
LANGUAGE_SHARES = (0.73, 0.27)  # Deskdrop's articles: 2,211 en, 829 pt
COUNTRIES = ("US", "BR", "GB", "DE", "IN", "PT")
COUNTRY_SHARES = (0.3, 0.3, 0.1, 0.1, 0.1, 0.1)
DIURNAL = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 8, 7, 7, 8, 7, 6, 6, 6, 7, 8, 9, 9, 7, 5, 3], dtype=np.float64)
"""Relative session starts per hour of the day (UTC): a morning and an evening peak."""


def deskdrop_event_mix(read_share_of_views: float = 0.4) -> dict[str, float]:
    """Deskdrop's event shares mapped to storyrec's types: VIEW → open/read, LIKE → like,
    BOOKMARK → save, COMMENT CREATED → comment."""
    total = sum(DESKDROP_EVENT_COUNTS.values())
    view = DESKDROP_EVENT_COUNTS["VIEW"] / total
    return {
        "open": view * (1 - read_share_of_views),
        "read": view * read_share_of_views,
        "comment": DESKDROP_EVENT_COUNTS["COMMENT CREATED"] / total,
        "like": DESKDROP_EVENT_COUNTS["LIKE"] / total,
        "save": DESKDROP_EVENT_COUNTS["BOOKMARK"] / total,
    }


@dataclass(frozen=True)
class TrafficConfig:
    """What to generate. The same config (seed included) always gives the same bytes."""

    seed: int = 0
    users: int = 1_000
    stories: int = 2_000
    interactions: int = 50_000
    days: int = 30
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    topics: tuple[str, ...] = TOPICS
    popularity_exponent: float = 1.0
    """Zipf exponent of story appeal by rank."""
    topic_exponent: float = 0.8
    """Zipf exponent of topic shares by rank."""
    half_life_hours: float = 12.0
    """A story's attention halves every this many hours."""
    interest_concentration: float = 0.3
    """Dirichlet concentration of a user's topic interests: small means a few favourite topics."""
    off_interest_share: float = 0.15
    """Share of clicks that follow the front page (global topic shares) instead of the user's interests."""
    activity_sigma: float = 1.6
    """Log-normal sigma of user activity (Deskdrop: mean/median events per user ~ 3.8 = exp(sigma²/2))."""
    session_mean_events: float = 2.5
    session_gap_seconds: float = 90.0
    same_story_share: float = 0.35
    """Chance that an event (after a session's first) acts on the story the previous event touched."""
    read_seconds_median: float = 55.0
    event_mix: Mapping[str, float] = field(default_factory=deskdrop_event_mix)
    warmup_days: float = 2.0
    """Stories published before the period starts, so the first sessions have something to read."""
    chunk_events: int = 250_000

    def __post_init__(self) -> None:
        if self.users < 1 or self.interactions < 0 or self.days < 1:
            raise ValueError("users and days must be positive, interactions not negative")
        if self.stories < len(self.topics):
            raise ValueError(f"need at least one story per topic ({len(self.topics)})")
        if set(self.event_mix) - set(EVENT_TYPES) or not math.isclose(sum(self.event_mix.values()), 1.0):
            raise ValueError(f"event_mix must give shares of {EVENT_TYPES} summing to 1")
        if self.start.tzinfo is None:
            raise ValueError("start must be an aware datetime")

    @classmethod
    def ending_before(cls, now: datetime, days: int = 30, **overrides: Any) -> TrafficConfig:
        """A period of ``days`` that ends a day before ``now`` (hour-aligned, so a seed stays reproducible
        within the hour): sessions that spill past the period's end still lie in the past, as capture
        requires (it quarantines timestamps in the future)."""
        end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
        return cls(start=end - timedelta(days=days), days=days, **overrides)

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        return self.start_ts + self.days * 86_400

    @property
    def tau_seconds(self) -> float:
        return self.half_life_hours * 3600 / math.log(2)
