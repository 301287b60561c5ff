"""Schemas an earlier storyrec shipped: what a deployed dataset group may still carry (rebuild, bootstrap tests)."""

from __future__ import annotations

import json

INTERACTIONS_V1_COLUMNS = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"]
"""Interactions schema 1.0: before RECOMMENDATION_ID, EVENT_ATTRIBUTION_SOURCE and IMPRESSION."""

INTERACTIONS_V1_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["null", "float"]},
            {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
        ],
        "version": "1.0",
    }
)
