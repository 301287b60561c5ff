"""The one manifest module: what the writer writes the parser reads back, the format check, the key layout."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryObjectStore
from shared.manifest import (
    BadManifest,
    Manifest,
    ManifestDataset,
    ManifestFile,
    ManifestWindow,
    date_prefix,
    is_manifest_key,
    manifest_day,
    manifest_key,
    manifest_keys,
    parse_manifest,
    part_key,
    read_manifests,
    serialize_manifest,
)

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 28)
START = datetime(2026, 11, 28, tzinfo=UTC)
END = datetime(2026, 11, 29, tzinfo=UTC)


def _manifest(rows: tuple[int, ...] = (3, 2), rejected: dict[str, int] | None = None) -> Manifest:
    files = tuple(
        ManifestFile(part_key("p/", "interactions", DAY, i), n, 10 * n, f"{i:064x}") for i, n in enumerate(rows)
    )
    return Manifest(
        "export-20261128-abc",
        DAY,
        (
            ManifestDataset("interactions", "INCREMENTAL", "1.0", ("USER_ID", "ITEM_ID"), files, rejected or {}),
            ManifestDataset("items", "FULL", "1.0", ("ITEM_ID",), (ManifestFile("p/items/dt=2026-11-28/x.csv", 1, 9),)),
        ),
        "Europe/Berlin",
        ManifestWindow(START, END),
    )


def _body(**changes: Any) -> bytes:
    body = json.loads(serialize_manifest(_manifest()))
    body.update(changes)
    return json.dumps(body).encode()


@given(
    rows=st.lists(st.integers(0, 10**9), max_size=5), rejected=st.dictionaries(st.text(max_size=8), st.integers(0, 99))
)
def test_what_the_writer_writes_the_parser_reads_back(rows: list[int], rejected: dict[str, int]) -> None:
    written = _manifest(tuple(rows), rejected)
    raw = serialize_manifest(written)
    parsed = parse_manifest(raw)
    assert parsed.datasets == tuple(sorted(written.datasets, key=lambda d: d.dataset))
    assert (parsed.run_id, parsed.day, parsed.time_zone, parsed.window) == (
        written.run_id,
        written.day,
        written.time_zone,
        written.window,
    )
    assert serialize_manifest(parsed) == raw  # deterministic: a rerun uploads the same bytes


def test_the_written_json_keeps_its_documented_shape() -> None:
    body = json.loads(serialize_manifest(_manifest()))
    assert body["format_version"] == "1" and body["window"]["field"] == "captured_at"
    interactions = body["datasets"]["interactions"]
    assert interactions["rows"] == 5 and set(interactions["files"][0]) == {"key", "rows", "bytes", "sha256"}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff", "UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (_body(format_version="2"), "format_version"),
        (_body(run_id=""), "empty run_id"),
        (_body(run_id=7), "malformed"),
        (_body(date="2026-13-01"), "malformed"),
        (_body(datasets={"items": {"import_mode": "SOME", "rows": 0, "files": []}}), "import_mode"),
        (_body(datasets={"items": {"import_mode": "FULL", "rows": 2, "files": []}}), "differ"),
        (
            _body(datasets={"items": {"import_mode": "FULL", "rows": 1, "files": [{"key": "k", "rows": "1"}]}}),
            "malformed",
        ),
        (
            _body(datasets={"items": {"import_mode": "FULL", "rows": 0, "files": [], "rejected": {"x": -1}}}),
            "malformed",
        ),
    ],
)
def test_the_parser_names_what_is_wrong(raw: bytes, why: str) -> None:
    with pytest.raises(BadManifest, match=why):
        parse_manifest(raw)


def test_the_descriptive_fields_are_optional() -> None:
    minimal = {
        "format_version": "1",
        "run_id": "r",
        "date": "2026-11-28",
        "datasets": {"items": {"import_mode": "FULL", "rows": 1, "files": [{"key": "k", "rows": 1, "bytes": 3}]}},
    }
    manifest = parse_manifest(json.dumps(minimal).encode())
    assert manifest.window is None and manifest.datasets[0].files[0].sha256 == ""


def test_the_key_layout() -> None:
    assert date_prefix("p/", "items", DAY) == "p/items/dt=2026-11-28/"
    assert part_key("p/", "interactions", DAY, 3, "part-s001") == "p/interactions/dt=2026-11-28/part-s001-00003.csv"
    key = manifest_key("p/", DAY)
    assert key == "p/manifests/dt=2026-11-28/manifest.json"
    assert is_manifest_key(key, "p/") and manifest_day(key, "p/") == DAY
    assert not is_manifest_key(key) and not is_manifest_key(key + ".tmp", "p/")
    assert manifest_day("p/manifests/dt=2026-13-01/manifest.json", "p/") is None


def test_reading_a_bucket_lists_only_manifests_oldest_first() -> None:
    store = InMemoryObjectStore("b")
    for day in (date(2026, 11, 29), DAY):
        m = _manifest()
        store.put_bytes(manifest_key("p/", day), serialize_manifest(Manifest(f"r{day.day}", day, m.datasets)))
    store.put_bytes("p/manifests/notes.txt", b"x")
    store.put_bytes("other/manifests/dt=2026-11-27/manifest.json", b"{}")
    assert manifest_keys(store, "p/") == [manifest_key("p/", DAY), manifest_key("p/", date(2026, 11, 29))]
    assert [m.run_id for m in read_manifests(store, "p/")] == ["r28", "r29"]
    store.put_bytes(manifest_key("p/", date(2026, 11, 30)), b"{}")
    with pytest.raises(BadManifest, match="dt=2026-11-30"):
        read_manifests(store, "p/")
