"""Generated traffic written in Deskdrop's file format: tests that read ``../shared/data/deskdrop`` run
on a clone without it (``deskdrop_like`` in tests/conftest.py).

The same two files, columns and quirks as the real dataset (``../shared/data/deskdrop/README.md``):
``articles.csv`` (creation_timestamp, item_id, lang, article_genre, training_text; backslash-escaped quotes,
``doublequote`` off) and ``users_interactions.csv`` (timestamp, eventType, contentId, personId, sessionId,
userAgent, userRegion, userCountry; rows not in time order). Signed 64-bit ids, VIEW / LIKE / BOOKMARK /
COMMENT CREATED events in the generator's mix plus FOLLOW events (storyrec has no type for them), a few
clicks on articles missing from articles.csv, empty user agents, 2016-2017 times.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from infra.local.traffic.config import EVENT_TYPES, LANGUAGES, TrafficConfig
from infra.local.traffic.generate import build_catalogue, interaction_chunks, story_summary

EVENTS = {"open": "VIEW", "read": "VIEW", "like": "LIKE", "save": "BOOKMARK", "comment": "COMMENT CREATED"}
FOLLOW_SHARE = 0.02
"""Deskdrop: 1,407 FOLLOW events of 72,312."""
MISSING_SHARE = 0.005
"""Deskdrop: 15 of 2,987 read articles have no row in articles.csv (0.2% of interactions)."""
AGENTS = (
    "",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_2) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 9_3 like Mac OS X) AppleWebKit/601.1.46 (KHTML, like Gecko) Mobile/13E233",
    "Android - Native Mobile App",
)
REGIONS = (("SP", "BR"), ("MG", "BR"), ("NY", "US"), ("CA", "US"), ("", ""))
DESKDROP_START = datetime(2016, 3, 14, tzinfo=UTC)


def deskdrop_config(users: int = 400, stories: int = 600, interactions: int = 12_000, seed: int = 7) -> TrafficConfig:
    """A sixth of Deskdrop's size over 20 days of its months (seeded): dense enough that the 6,000 latest
    interactions (tests/integration/recommend's subset) fall within the feeds' 14-day window."""
    return TrafficConfig(
        seed=seed, users=users, stories=stories, interactions=interactions, days=20, start=DESKDROP_START
    )


def write_deskdrop_like(directory: Path, config: TrafficConfig | None = None) -> Path:
    """Write ``articles.csv`` and ``users_interactions.csv`` to ``directory``; return it."""
    config = config or deskdrop_config()
    catalogue = build_catalogue(config)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 9]))
    item_ids = rng.integers(-(2**63), 2**63 - 1, size=config.stories, dtype=np.int64)
    person_ids = rng.integers(-(2**63), 2**63 - 1, size=config.users, dtype=np.int64)
    topics = np.asarray(config.topics)[catalogue.story_topic]
    articles = pd.DataFrame(
        {
            "creation_timestamp": catalogue.published,
            "item_id": item_ids,
            "lang": np.asarray(LANGUAGES)[catalogue.story_lang],
            "article_genre": topics,
            "training_text": [story_summary(str(t), i) for i, t in enumerate(topics)],
        }
    )
    frames = []
    for chunk in interaction_chunks(config, catalogue):
        n = len(chunk)
        names = np.asarray(EVENT_TYPES)[chunk.event]
        events = np.asarray([EVENTS[str(e)] for e in names], dtype=object)
        events[rng.random(n) < FOLLOW_SHARE] = "FOLLOW"
        content = item_ids[chunk.story].astype(object)
        missing = rng.random(n) < MISSING_SHARE
        content[missing] = rng.integers(-(2**63), 2**63 - 1, size=int(missing.sum()), dtype=np.int64)
        region = rng.integers(len(REGIONS), size=n)
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": chunk.timestamp,
                    "eventType": events,
                    "contentId": content,
                    "personId": person_ids[chunk.user],
                    "sessionId": (chunk.session * 7_919 + 1_000_003).astype(np.int64),
                    "userAgent": np.asarray(AGENTS, dtype=object)[rng.integers(len(AGENTS), size=n)],
                    "userRegion": np.asarray([r for r, _ in REGIONS], dtype=object)[region],
                    "userCountry": np.asarray([c for _, c in REGIONS], dtype=object)[region],
                }
            )
        )
    interactions = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=config.seed)
    directory.mkdir(parents=True, exist_ok=True)
    articles.to_csv(
        directory / "articles.csv", index=False, quoting=csv.QUOTE_NONNUMERIC, escapechar="\\", doublequote=False
    )
    interactions.replace({"": None}).to_csv(directory / "users_interactions.csv", index=False)
    return directory
