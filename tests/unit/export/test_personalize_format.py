"""The exported files parse in the local Personalize-compatible engine's importer, values intact."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryObjectStore
from shared.export import ExportDeps, run_export
from shared.schema import DatasetType, load_schema
from tests.unit.export.factories import DAY, DAY_START, HOSTILE, interaction, item, seed, user

pytestmark = pytest.mark.unit


def _engine_read(dataset: DatasetType, payload: bytes) -> Any:
    schema = pytest.importorskip("infra.local.personalize.schema")
    fields = schema.parse_schema(load_schema(dataset).as_json())
    return schema.read_csv(payload, fields)


def test_interactions_items_and_users_import_with_their_values(deps: ExportDeps) -> None:
    # hostile text goes in the free-text SUMMARY: ids and devices with it are quarantined (test_export_corpus)
    devices = ("web", "ios", "android-app", "tablet")
    clicks = [
        interaction(i, DAY_START + timedelta(minutes=i), USER_ID=f"u-{i}", DEVICE=devices[i % 4])
        for i in range(len(HOSTILE))
    ]
    seed(deps.docs, "ml_interactions", clicks)
    seed(deps.docs, "ml_items", [item(f"s{i}", SUMMARY=t, TAGS=None) for i, t in enumerate(HOSTILE)])
    seed(deps.docs, "ml_users", [user("u1", COUNTRY=None), user("u2")])
    run_export(DAY, deps)
    objects = deps.import_store.objects if isinstance(deps.import_store, InMemoryObjectStore) else {}

    frame = _engine_read("interactions", objects["interactions/dt=2026-11-28/part-00000.csv"])
    by_user = {row.USER_ID: row for row in frame.itertuples()}
    for _, data in clicks:
        row = by_user[data["USER_ID"]]
        got = (row.ITEM_ID, row.TIMESTAMP, row.EVENT_TYPE, row.DEVICE)
        want = tuple(data[c] for c in ("ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "DEVICE"))
        assert got == want
        value = data["EVENT_VALUE"]
        assert math.isnan(row.EVENT_VALUE) if value is None else float(row.EVENT_VALUE) == value

    items = _engine_read("items", objects["items/dt=2026-11-28/part-00000.csv"])
    assert sorted(items["SUMMARY"]) == sorted(HOSTILE) and items["TAGS"].isna().all()
    users = _engine_read("users", objects["users/dt=2026-11-28/part-00000.csv"])
    assert list(users["USER_ID"]) == ["u1", "u2"] and users["COUNTRY"].isna().tolist() == [True, False]
