"""Generated news traffic: a seeded, numpy-vectorised stand-in for a news app's readers (dev tooling).

What it models, each knob in :class:`TrafficConfig`:

- **Stories** published over the period (plus a short warm-up before it), each with a topic and an
  appeal drawn from a power law (Zipf over a random ranking of the catalogue).
- **Recency**: a story's attention decays exponentially with its age (``half_life_hours``); nobody
  clicks a story before it is published.
- **Users** with heavy-tailed activity (log-normal, as Deskdrop's: median 10 events, mean 38) and
  interests concentrated on a few topics (a Dirichlet draw around the global topic shares).
- **Sessions**: a user, a start time following a day/night profile, a geometric number of events
  (Deskdrop: 2.5 per session) spaced by exponential gaps; an event may act on the story the previous
  event of the session touched (open, then read, then like).
- **Event mix** like Deskdrop's (VIEW 84.5%, LIKE 7.9%, BOOKMARK 3.4%, COMMENT CREATED 2.2%; FOLLOW,
  which storyrec has no counterpart for, is left out), with VIEW split into ``open`` and ``read``.
  A ``read`` carries EVENT_VALUE, the seconds read.

Picking a story for a click at time ``t`` in topic ``k`` is the costly part; it is one ``searchsorted``
per event because exponential decay factorises: ``appeal * exp(-(t - pub) / tau)`` is proportional, at
a fixed ``t``, to ``appeal * exp(pub / tau)``. Per topic, stories are sorted by publication time and
those weights summed cumulatively (relative to a reference time per epoch, so nothing overflows); the
stories published by ``t`` are a prefix of that order.

Outputs, streamed chunk by chunk so 10M interactions fit in a few hundred MB:

- Firestore documents as the app and its clients write them (``stories``, ``users``, ``clicks``; see
  docs/capture.md), as :class:`shared.ports.Write` objects;
- Personalize bulk CSVs (columns from the Avro schemas in ``infra/personalize/schemas``).

``python -m infra.local.traffic --help`` writes the CSVs (and optionally JSON lines of the documents).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.ports import Write
from shared.schema import load_schema

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
_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
UID_LENGTH = 28  # Firebase Auth uids
AUTO_ID_LENGTH = 20  # Firestore auto ids
_USER_BLOCK = 100_000


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


@dataclass(frozen=True)
class Catalogue:
    """Stories and users: ids, attributes and the sampling tables derived from them."""

    story_ids: np.ndarray  # bytes (S20)
    published: np.ndarray  # int64 Unix seconds
    story_topic: np.ndarray  # int16
    appeal: np.ndarray  # float64
    story_source: np.ndarray  # int8 index into SOURCES
    story_lang: np.ndarray  # int8 index into LANGUAGES
    user_ids: np.ndarray  # bytes (S28)
    user_activity_cdf: np.ndarray  # float64, cumulative
    user_interest_cdf: np.ndarray  # float32 (users, topics), cumulative per row
    user_device: np.ndarray  # int8 index into DEVICES
    user_lang: np.ndarray  # int8
    user_country: np.ndarray  # int8
    topic_shares: np.ndarray  # float64


@dataclass(frozen=True)
class InteractionChunk:
    """A block of interactions as parallel arrays (indices into the catalogue), in session order."""

    user: np.ndarray  # int32
    story: np.ndarray  # int32
    timestamp: np.ndarray  # int64
    event: np.ndarray  # int8 index into EVENT_TYPES
    value: np.ndarray  # float64, NaN when absent
    session: np.ndarray  # int64 global session number
    device: np.ndarray  # int8

    def __len__(self) -> int:
        return len(self.user)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    names = ("stories", "users", "sessions")
    return {n: np.random.default_rng(s) for n, s in zip(names, np.random.SeedSequence(seed).spawn(3), strict=True)}


def _chunk_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 1, index]))


def random_ids(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` random alphanumeric ids of ``length`` characters, as a bytes array (``S<length>``)."""
    codes = _ALPHABET[rng.integers(0, len(_ALPHABET), size=(n, length), dtype=np.uint8)]
    return np.ascontiguousarray(codes).view(f"S{length}").ravel()


def _zipf_shares(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return weights / weights.sum()


def build_catalogue(config: TrafficConfig) -> Catalogue:
    """The stories and users of ``config`` (deterministic by seed)."""
    rngs = _streams(config.seed)
    rs, ru = rngs["stories"], rngs["users"]
    n_topics = len(config.topics)
    topic_shares = _zipf_shares(n_topics, config.topic_exponent)

    first = config.start_ts - int(config.warmup_days * 86_400)
    published = np.sort(rs.integers(first, config.end_ts, size=config.stories)).astype(np.int64)
    story_topic = rs.choice(n_topics, size=config.stories, p=topic_shares).astype(np.int16)
    story_topic[:n_topics] = np.arange(n_topics)  # the oldest story of each topic predates every click
    ranks = rs.permutation(config.stories)
    appeal = 1.0 / (ranks + 1.0) ** config.popularity_exponent
    story_ids = random_ids(rs, config.stories, AUTO_ID_LENGTH)
    story_source = rs.integers(0, len(SOURCES), size=config.stories).astype(np.int8)
    story_lang = rs.choice(len(LANGUAGES), size=config.stories, p=LANGUAGE_SHARES).astype(np.int8)

    activity = ru.lognormal(0.0, config.activity_sigma, size=config.users)
    activity_cdf = np.cumsum(activity / activity.sum())
    alpha = config.interest_concentration * n_topics * topic_shares
    interest_cdf = np.empty((config.users, n_topics), dtype=np.float32)
    for lo in range(0, config.users, _USER_BLOCK):  # in blocks: float64 temporaries of 1M users x topics add up
        block = ru.dirichlet(alpha, size=min(_USER_BLOCK, config.users - lo))
        block = (1 - config.off_interest_share) * block + config.off_interest_share * topic_shares
        interest_cdf[lo : lo + len(block)] = np.cumsum(block, axis=1)
    interest_cdf[:, -1] = 1.0
    return Catalogue(
        story_ids=story_ids,
        published=published,
        story_topic=story_topic,
        appeal=appeal,
        story_source=story_source,
        story_lang=story_lang,
        user_ids=random_ids(ru, config.users, UID_LENGTH),
        user_activity_cdf=activity_cdf,
        user_interest_cdf=interest_cdf,
        user_device=ru.choice(len(DEVICES), size=config.users, p=DEVICE_SHARES).astype(np.int8),
        user_lang=ru.choice(len(LANGUAGES), size=config.users, p=LANGUAGE_SHARES).astype(np.int8),
        user_country=ru.choice(len(COUNTRIES), size=config.users, p=COUNTRY_SHARES).astype(np.int8),
        topic_shares=topic_shares,
    )


class _StoryPicker:
    """Samples a story of a topic at time t with weight ``appeal * exp(-(t - published) / tau)``."""

    def __init__(self, config: TrafficConfig, catalogue: Catalogue) -> None:
        self._tau = config.tau_seconds
        self._epoch = 100.0 * self._tau  # exp(-100) is far from float64 underflow (exp(-708))
        self._origin = float(catalogue.published.min())
        self._by_topic: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for k in range(len(config.topics)):
            members = np.flatnonzero(catalogue.story_topic == k)  # published is sorted, so members are too
            self._by_topic.append((members, catalogue.published[members], np.log(catalogue.appeal[members])))
        self._cum: dict[tuple[int, int], np.ndarray] = {}

    def epoch_of(self, t: np.ndarray) -> np.ndarray:
        return ((t - self._origin) // self._epoch).astype(np.int64)

    def _cumulative(self, topic: int, epoch: int) -> np.ndarray:
        key = (topic, epoch)
        if key not in self._cum:
            _, published, log_appeal = self._by_topic[topic]
            reference = self._origin + (epoch + 1) * self._epoch
            exponent = np.minimum(log_appeal + (published - reference) / self._tau, 0.0)
            self._cum[key] = np.cumsum(np.exp(exponent))
        return self._cum[key]

    def pick(self, topic: int, epoch: int, t: np.ndarray, u: np.ndarray) -> np.ndarray:
        members, published, _ = self._by_topic[topic]
        cum = self._cumulative(topic, epoch)
        available = np.searchsorted(published, t, side="right")  # stories published by t: a prefix
        available = np.maximum(available, 1)  # the topic's first story predates every session
        target = u * cum[available - 1]
        chosen = np.minimum(np.searchsorted(cum, target, side="right"), available - 1)
        return members[chosen]


def _session_plan(config: TrafficConfig, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every session's start (sorted), user and length; lengths sum to ``config.interactions``."""
    rng = _streams(config.seed)["sessions"]
    expected = int(config.interactions / config.session_mean_events * 1.05) + 16
    lengths = rng.geometric(1.0 / config.session_mean_events, size=expected).astype(np.int64)
    while lengths.sum() < config.interactions:
        lengths = np.concatenate([lengths, rng.geometric(1.0 / config.session_mean_events, size=expected)])
    ends = np.cumsum(lengths)
    n = int(np.searchsorted(ends, config.interactions, side="left")) + 1 if config.interactions else 0
    lengths = lengths[:n]
    if n:
        lengths[-1] -= int(ends[n - 1] - config.interactions)
    day = rng.integers(0, config.days, size=n)
    hour = rng.choice(24, size=n, p=DIURNAL / DIURNAL.sum())
    starts = config.start_ts + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size=n)
    starts = np.sort(starts).astype(np.int64)
    users = np.searchsorted(catalogue.user_activity_cdf, rng.random(n), side="right")
    users = np.minimum(users, config.users - 1).astype(np.int32)
    return starts, users, lengths


def interaction_chunks(config: TrafficConfig, catalogue: Catalogue) -> Iterator[InteractionChunk]:
    """All interactions, in chunks of about ``config.chunk_events``, sessions in start order."""
    starts, users, lengths = _session_plan(config, catalogue)
    picker = _StoryPicker(config, catalogue)
    mix = np.array([config.event_mix.get(t, 0.0) for t in EVENT_TYPES])
    mix_cdf = np.cumsum(mix / mix.sum())
    ends = np.cumsum(lengths)
    first_session, chunk_index = 0, 0
    while first_session < len(lengths):
        done = int(ends[first_session - 1]) if first_session else 0
        last = int(np.searchsorted(ends, done + config.chunk_events, side="left")) + 1
        last = min(last, len(lengths))
        sessions = np.arange(first_session, last)
        yield _chunk(
            config,
            catalogue,
            picker,
            mix_cdf,
            _chunk_rng(config.seed, chunk_index),
            sessions,
            starts[sessions],
            users[sessions],
            lengths[sessions],
        )
        first_session, chunk_index = last, chunk_index + 1


def _chunk(
    config: TrafficConfig,
    catalogue: Catalogue,
    picker: _StoryPicker,
    mix_cdf: np.ndarray,
    rng: np.random.Generator,
    sessions: np.ndarray,
    starts: np.ndarray,
    users: np.ndarray,
    lengths: np.ndarray,
) -> InteractionChunk:
    n = int(lengths.sum())
    of_event = np.repeat(np.arange(len(sessions)), lengths)
    offsets = np.cumsum(lengths) - lengths
    position = np.arange(n) - offsets[of_event]
    gaps = rng.exponential(config.session_gap_seconds, size=n)
    gaps[position == 0] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[offsets][of_event]
    timestamp = starts[of_event] + elapsed.astype(np.int64)
    user = users[of_event]

    # topic from the user's interests (already mixed with the front page), then a story of that topic
    u = rng.random(n).astype(np.float32)
    topic = (u[:, None] > catalogue.user_interest_cdf[user]).sum(axis=1)
    topic = np.minimum(topic, len(config.topics) - 1)
    epoch = picker.epoch_of(timestamp)
    story = np.empty(n, dtype=np.int32)
    draws = rng.random(n)
    group = topic.astype(np.int64) * (int(epoch.max()) + 1 if n else 1) + epoch
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for members in np.split(order, bounds):
        if len(members):
            k, e = int(topic[members[0]]), int(epoch[members[0]])
            story[members] = picker.pick(k, e, timestamp[members], draws[members])

    # within a session, some events act on the story the previous event touched (open → read → like)
    repeat = (position > 0) & (rng.random(n) < config.same_story_share)
    anchor = np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))
    story = story[anchor]

    event = np.searchsorted(mix_cdf, rng.random(n), side="right").clip(0, len(EVENT_TYPES) - 1).astype(np.int8)
    value = np.full(n, np.nan)
    reads = event == EVENT_TYPES.index("read")
    seconds = rng.lognormal(math.log(config.read_seconds_median), 0.8, size=int(reads.sum()))
    value[reads] = np.minimum(np.round(seconds), 86_400.0)
    return InteractionChunk(
        user=user,
        story=story,
        timestamp=timestamp,
        event=event,
        value=value,
        session=sessions[of_event].astype(np.int64),
        device=catalogue.user_device[user],
    )


# --- Personalize bulk CSVs -------------------------------------------------------------------------


def _decode(ids: np.ndarray) -> np.ndarray:
    return np.char.decode(ids, "ascii")


def _summary(topic: str, i: int) -> str:
    return f'What changed in {topic} this week, part {i}: analysis, "quotes" and numbers'


def interactions_frame(chunk: InteractionChunk, catalogue: Catalogue) -> pd.DataFrame:
    """One chunk as rows of the interactions dataset (columns in the schema's order)."""
    columns: dict[str, Any] = {
        "USER_ID": _decode(catalogue.user_ids[chunk.user]),
        "ITEM_ID": _decode(catalogue.story_ids[chunk.story]),
        "TIMESTAMP": chunk.timestamp,
        "EVENT_TYPE": np.asarray(EVENT_TYPES)[chunk.event],
        "EVENT_VALUE": chunk.value,
        "DEVICE": np.asarray(DEVICES)[chunk.device],
    }
    return _ordered("interactions", columns)


def items_frame(config: TrafficConfig, catalogue: Catalogue) -> pd.DataFrame:
    """Every story as rows of the items dataset."""
    topics = np.asarray(config.topics)[catalogue.story_topic]
    columns: dict[str, Any] = {
        "ITEM_ID": _decode(catalogue.story_ids),
        "CREATION_TIMESTAMP": catalogue.published,
        "CATEGORY": topics,
        "TAGS": [f"{t}|{SOURCES[s]}" for t, s in zip(topics, catalogue.story_source, strict=True)],
        "SOURCE": np.asarray(SOURCES)[catalogue.story_source],
        "LANGUAGE": np.asarray(LANGUAGES)[catalogue.story_lang],
        "SUMMARY": [_summary(t, i) for i, t in enumerate(topics)],
    }
    return _ordered("items", columns)


def users_frame(catalogue: Catalogue) -> pd.DataFrame:
    """Every user as rows of the users dataset."""
    columns: dict[str, Any] = {
        "USER_ID": _decode(catalogue.user_ids),
        "LANGUAGE": np.asarray(LANGUAGES)[catalogue.user_lang],
        "COUNTRY": np.asarray(COUNTRIES)[catalogue.user_country],
    }
    return _ordered("users", columns)


def _ordered(dataset: Any, columns: dict[str, Any]) -> pd.DataFrame:
    header = load_schema(dataset).header
    if set(header) != set(columns):
        raise ValueError(f"{dataset}: the generator makes {sorted(columns)}, the schema wants {header}")
    return pd.DataFrame({name: columns[name] for name in header})


def write_personalize_csvs(config: TrafficConfig, out_dir: Path) -> dict[str, int]:
    """Write ``interactions.csv``, ``items.csv`` and ``users.csv`` to ``out_dir``; return rows per file.

    Interactions are written chunk by chunk: memory stays flat however many are asked for.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    catalogue = build_catalogue(config)
    rows = {"interactions": 0}
    with open(out_dir / "interactions.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(load_schema("interactions").header) + "\n")
        for chunk in interaction_chunks(config, catalogue):
            interactions_frame(chunk, catalogue).to_csv(fh, header=False, index=False, lineterminator="\n")
            rows["interactions"] += len(chunk)
    for name, frame in (("items", items_frame(config, catalogue)), ("users", users_frame(catalogue))):
        frame.to_csv(out_dir / f"{name}.csv", index=False, lineterminator="\n")
        rows[name] = len(frame)
    return rows


# --- Firestore documents, as the app and its clients write them (docs/capture.md) ----------------


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def story_documents(config: TrafficConfig, catalogue: Catalogue, collection: str = "stories") -> Iterator[Write]:
    """``stories/{storyId}`` as the app publishes them."""
    for i, sid in enumerate(_decode(catalogue.story_ids)):
        topic = config.topics[catalogue.story_topic[i]]
        source = SOURCES[catalogue.story_source[i]]
        yield Write(
            f"{collection}/{sid}",
            data={
                "title": f"{topic.title()} story {i}",
                "url": f"https://news.example/{sid}",
                "source": source,
                "image": f"https://news.example/{sid}.jpg",
                "category": topic,
                "tags": [topic, source],
                "lang": LANGUAGES[catalogue.story_lang[i]],
                "summary": _summary(topic, i),
                "publishedAt": _at(catalogue.published[i]),
                "status": "published",
            },
        )


def user_documents(catalogue: Catalogue, collection: str = "users") -> Iterator[Write]:
    """``users/{uid}`` as the app creates them at sign-up."""
    for i, uid in enumerate(_decode(catalogue.user_ids)):
        yield Write(
            f"{collection}/{uid}",
            data={
                "displayName": f"Reader {i}",
                "lang": LANGUAGES[catalogue.user_lang[i]],
                "country": COUNTRIES[catalogue.user_country[i]],
            },
        )


def click_documents(config: TrafficConfig, catalogue: Catalogue, collection: str = "clicks") -> Iterator[Write]:
    """``clicks/{clickId}`` as a client writes them (``createdAt`` is what the server's time would be)."""
    for index, chunk in enumerate(interaction_chunks(config, catalogue)):
        rng = _chunk_rng(config.seed, 1_000_000 + index)
        click_ids = _decode(random_ids(rng, len(chunk), AUTO_ID_LENGTH))
        skew = rng.integers(0, 3, size=len(chunk))  # the device clock trails the server by 0-2 s
        users = _decode(catalogue.user_ids[chunk.user])
        stories = _decode(catalogue.story_ids[chunk.story])
        for j in range(len(chunk)):
            created = _at(chunk.timestamp[j])
            data: dict[str, Any] = {
                "userId": str(users[j]),
                "storyId": str(stories[j]),
                "type": EVENT_TYPES[chunk.event[j]],
                "clientTime": created - timedelta(seconds=int(skew[j])),
                "createdAt": created,
                "sessionId": f"{config.seed}-{chunk.session[j]}",
                "device": DEVICES[chunk.device[j]],
            }
            if not math.isnan(chunk.value[j]):
                data["value"] = float(chunk.value[j])
            yield Write(f"{collection}/{click_ids[j]}", data=data)


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.local.traffic``: write generated traffic to a folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    defaults = TrafficConfig()
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--stories", type=int, default=defaults.stories)
    parser.add_argument("--interactions", type=int, default=defaults.interactions)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=defaults.start,
        help="ISO start of the period (UTC if no offset)",
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help="also write stories/users/clicks documents as JSON lines (Firestore shape)",
    )
    args = parser.parse_args(argv)
    start = args.start if args.start.tzinfo else args.start.replace(tzinfo=UTC)
    config = TrafficConfig(
        seed=args.seed,
        users=args.users,
        stories=args.stories,
        interactions=args.interactions,
        days=args.days,
        start=start,
    )
    began = time.perf_counter()
    rows = write_personalize_csvs(config, args.out)
    if args.documents:
        catalogue = build_catalogue(config)
        for name, writes in (
            ("stories", story_documents(config, catalogue)),
            ("users", user_documents(catalogue)),
            ("clicks", click_documents(config, catalogue)),
        ):
            with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
                for w in writes:
                    fh.write(json.dumps({"path": w.path, "data": _jsonable(w.data)}) + "\n")
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - began, 2), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
