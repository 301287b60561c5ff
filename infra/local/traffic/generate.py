"""The generator: a seeded catalogue of stories and users, then interactions in chunks (see the package doc)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from infra.local.traffic.config import (
    COUNTRIES,
    COUNTRY_SHARES,
    DEVICE_SHARES,
    DEVICES,
    DIURNAL,
    EVENT_TYPES,
    LANGUAGE_SHARES,
    LANGUAGES,
    SOURCES,
    TrafficConfig,
)

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
UID_LENGTH = 28  # Firebase Auth uids
AUTO_ID_LENGTH = 20  # Firestore auto ids
_USER_BLOCK = 100_000


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


def chunk_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of chunk ``index`` (documents draw theirs from ``1_000_000 + index``)."""
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
            chunk_rng(config.seed, chunk_index),
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


def decode_ids(ids: np.ndarray) -> np.ndarray:
    """A bytes id array as str."""
    return np.char.decode(ids, "ascii")


def story_summary(topic: str, i: int) -> str:
    """The summary of generated story ``i`` (in the items CSV and the story documents alike)."""
    return f'What changed in {topic} this week, part {i}: analysis, "quotes" and numbers'
