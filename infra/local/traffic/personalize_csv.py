"""Generated traffic as Personalize bulk CSVs (columns from the Avro schemas in ``infra/personalize/schemas``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.local.traffic.config import COUNTRIES, DEVICES, EVENT_TYPES, LANGUAGES, SOURCES, TrafficConfig
from infra.local.traffic.generate import (
    Catalogue,
    InteractionChunk,
    build_catalogue,
    decode_ids,
    interaction_chunks,
    story_summary,
)
from shared.schema import load_schema


def interactions_frame(chunk: InteractionChunk, catalogue: Catalogue) -> pd.DataFrame:
    """One chunk as rows of the interactions dataset (columns in the schema's order)."""
    columns: dict[str, Any] = {
        "USER_ID": decode_ids(catalogue.user_ids[chunk.user]),
        "ITEM_ID": decode_ids(catalogue.story_ids[chunk.story]),
        "TIMESTAMP": chunk.timestamp,
        "EVENT_TYPE": np.asarray(EVENT_TYPES)[chunk.event],
        "EVENT_VALUE": chunk.value,
        "DEVICE": np.asarray(DEVICES)[chunk.device],
        # generated readers click outside any storyrec list: no attribution, no impression
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "IMPRESSION": None,
    }
    return _ordered("interactions", columns)


def items_frame(config: TrafficConfig, catalogue: Catalogue) -> pd.DataFrame:
    """Every story as rows of the items dataset."""
    topics = np.asarray(config.topics)[catalogue.story_topic]
    columns: dict[str, Any] = {
        "ITEM_ID": decode_ids(catalogue.story_ids),
        "CREATION_TIMESTAMP": catalogue.published,
        "CATEGORY": topics,
        "TAGS": [f"{t}|{SOURCES[s]}" for t, s in zip(topics, catalogue.story_source, strict=True)],
        "SOURCE": np.asarray(SOURCES)[catalogue.story_source],
        "LANGUAGE": np.asarray(LANGUAGES)[catalogue.story_lang],
        "SUMMARY": [story_summary(t, i) for i, t in enumerate(topics)],
    }
    return _ordered("items", columns)


def users_frame(catalogue: Catalogue) -> pd.DataFrame:
    """Every user as rows of the users dataset."""
    columns: dict[str, Any] = {
        "USER_ID": decode_ids(catalogue.user_ids),
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
