"""Generated traffic as Firestore documents, as the app and its clients write them (docs/capture.md)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.traffic.config import COUNTRIES, DEVICES, EVENT_TYPES, LANGUAGES, SOURCES, TrafficConfig
from infra.local.traffic.generate import (
    AUTO_ID_LENGTH,
    Catalogue,
    chunk_rng,
    decode_ids,
    interaction_chunks,
    random_ids,
    story_summary,
)
from shared.ports import Write


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def story_documents(config: TrafficConfig, catalogue: Catalogue, collection: str = "stories") -> Iterator[Write]:
    """``stories/{storyId}`` as the app publishes them."""
    for i, sid in enumerate(decode_ids(catalogue.story_ids)):
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
                "summary": story_summary(topic, i),
                "publishedAt": _at(catalogue.published[i]),
                "status": "published",
            },
        )


def user_documents(catalogue: Catalogue, collection: str = "users") -> Iterator[Write]:
    """``users/{uid}`` as the app creates them at sign-up."""
    for i, uid in enumerate(decode_ids(catalogue.user_ids)):
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
        rng = chunk_rng(config.seed, 1_000_000 + index)
        click_ids = decode_ids(random_ids(rng, len(chunk), AUTO_ID_LENGTH))
        skew = rng.integers(0, 3, size=len(chunk))  # the device clock trails the server by 0-2 s
        users = decode_ids(catalogue.user_ids[chunk.user])
        stories = decode_ids(catalogue.story_ids[chunk.story])
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
