"""Export corpus: ML records written straight into ml_interactions / ml_items / ml_users by something other
than capture (a bug, an admin script), each naming what the export must do with it.

``expect`` is ``exported`` (optionally ``exported:<column>=<cell>``: the cell the CSV must hold) or
``quarantined:<reason>``. Run by tests/unit/export/test_export_corpus.py (converter and extraction, in
memory) and tests/integration/export/test_export_corpus.py (the real export on the Firestore emulator).
Every case is a Firestore document (no surrogates, ints within 64 bits, under 1 MiB). Grow it: every new
hostile record found goes here with its outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

CAPTURED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
"""When the interactions were captured: inside the export window of 2026-11-28."""
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
"""The export's clock."""
BIG = 1_000_000
"""A field of about 1 MB: Firestore's 1 MiB document limit leaves room for little else."""

Dataset = Literal["interactions", "items", "users"]


@dataclass(frozen=True)
class ExportCase:
    name: str
    dataset: Dataset
    data: dict[str, Any]
    expect: str

    @property
    def collection(self) -> str:
        return f"ml_{self.dataset}"


def interaction(**overrides: Any) -> dict[str, Any]:
    """A valid ``ml_interactions`` record as capture writes it; a field set to ``...`` is removed."""
    data: dict[str, Any] = {
        "USER_ID": "u1",
        "ITEM_ID": "s1",
        "TIMESTAMP": int(CAPTURED.timestamp()) - 1,
        "EVENT_TYPE": "read",
        "EVENT_VALUE": 42.5,
        "DEVICE": "web",
        "SESSION_ID": "sess-1",
        "click_id": "c1",
        "captured_at": CAPTURED,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def item(**overrides: Any) -> dict[str, Any]:
    """A valid active ``ml_items`` record; a field set to ``...`` is removed."""
    data: dict[str, Any] = {
        "ITEM_ID": "s1",
        "CREATION_TIMESTAMP": 1_764_000_000,
        "CATEGORY": "tech",
        "TAGS": "cloud|costs",
        "SOURCE": "wire",
        "LANGUAGE": "en",
        "SUMMARY": "A summary.",
        "TITLE": "A title",
        "tags_dropped": 0,
        "active": True,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def user(**overrides: Any) -> dict[str, Any]:
    """A valid active ``ml_users`` record; a field set to ``...`` is removed."""
    data: dict[str, Any] = {"USER_ID": "u1", "LANGUAGE": "en", "COUNTRY": "DE", "active": True}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def _i(name: str, expect: str, **overrides: Any) -> ExportCase:
    return ExportCase(name, "interactions", interaction(**overrides), expect)


def _s(name: str, expect: str, **overrides: Any) -> ExportCase:
    return ExportCase(name, "items", item(**overrides), expect)


def _u(name: str, expect: str, **overrides: Any) -> ExportCase:
    return ExportCase(name, "users", user(**overrides), expect)


ID_1500_BYTES = "é" * 750
FUTURE = int((NOW + timedelta(days=1)).timestamp())

INTERACTIONS = [
    _i("valid", "exported"),
    _i("unknown extra fields are ignored", "exported", admin_note="x", nested={"a": [1, 2]}),
    _i("a 1 MB unknown field is ignored", "exported", blob="x" * BIG),
    _i("numeric id with a minus sign", "exported:USER_ID=-4110354420726924665", USER_ID="-4110354420726924665"),
    _i("event type in upper case is normalised", "exported:EVENT_TYPE=read", EVENT_TYPE="READ"),
    _i("device in mixed case is normalised", "exported:DEVICE=ios", DEVICE="iOS"),
    _i("aware datetime timestamp", f"exported:TIMESTAMP={int(CAPTURED.timestamp())}", TIMESTAMP=CAPTURED),
    _i("no event value", "exported:EVENT_VALUE=", EVENT_VALUE=...),
    _i("user id of 1,500 bytes", "quarantined:too_long", USER_ID=ID_1500_BYTES),
    _i("item id of 257 characters", "quarantined:too_long", ITEM_ID="s" * 257),
    _i("user id with NUL", "quarantined:control_chars", USER_ID="u\x00x"),
    _i("user id with a newline", "quarantined:control_chars", USER_ID="u1\nEVIL,row"),
    _i("user id with a bidi override", "quarantined:control_chars", USER_ID="u\u202e1"),
    _i("user id with a pipe", "quarantined:csv_hostile", USER_ID="u1|u2"),
    _i("item id with a comma", "quarantined:csv_hostile", ITEM_ID="s1,s2"),
    _i("user id with a quote", "quarantined:csv_hostile", USER_ID='u"1'),
    _i("user id is a formula", "quarantined:formula_like", USER_ID="=SUM(1)"),
    _i("item id is an @ formula", "quarantined:formula_like", ITEM_ID="@SUM(A1)"),
    _i("item id is a path", "quarantined:invalid_id", ITEM_ID="s1/comments/c1"),
    _i("item id is reserved", "quarantined:invalid_id", ITEM_ID="__name__"),
    _i("user id is a number", "quarantined:bad_string", USER_ID=42),
    _i("user id is a map", "quarantined:bad_string", USER_ID={"id": "u1"}),
    _i("timestamp as a string", "quarantined:bad_long", TIMESTAMP="1764331199"),
    _i("timestamp with a fraction", "quarantined:bad_long", TIMESTAMP=1764331199.5),
    _i("negative timestamp", "quarantined:negative_long", TIMESTAMP=-5),
    _i("timestamp of 10^15", "quarantined:future_timestamp", TIMESTAMP=10**15),
    _i("timestamp of 2^63-1", "quarantined:future_timestamp", TIMESTAMP=2**63 - 1),
    _i("timestamp a day after the export", "quarantined:future_timestamp", TIMESTAMP=FUTURE),
    _i("timestamp of 1970", "quarantined:past_timestamp", TIMESTAMP=0),
    _i("missing user id", "quarantined:missing_required", USER_ID=...),
    _i("missing item id", "quarantined:missing_required", ITEM_ID=...),
    _i("missing timestamp", "quarantined:missing_required", TIMESTAMP=...),
    _i("missing event type", "quarantined:missing_required", EVENT_TYPE=...),
    _i("blank user id", "quarantined:missing_required", USER_ID=""),
    _i("whitespace user id", "quarantined:empty_value", USER_ID="   "),
    _i("event value NaN", "quarantined:bad_float", EVENT_VALUE=math.nan),
    _i("event value +inf", "quarantined:bad_float", EVENT_VALUE=math.inf),
    _i("event value -inf", "quarantined:bad_float", EVENT_VALUE=-math.inf),
    _i("event value as a string", "quarantined:bad_float", EVENT_VALUE="12"),
    _i("negative event value", "quarantined:invalid_value", EVENT_VALUE=-1.0),
    _i("event value of 10^9 seconds", "quarantined:invalid_value", EVENT_VALUE=1e9),
    _i("event type outside the vocabulary", "quarantined:not_in_vocabulary", EVENT_TYPE="purchase"),
    _i("event type is a formula", "quarantined:formula_like", EVENT_TYPE="=1+1"),
    _i("device outside the vocabulary", "quarantined:not_in_vocabulary", DEVICE="toaster"),
    _i("device list joined with a pipe", "quarantined:csv_hostile", DEVICE=["ios", "web"]),
    _i("device of 1 MB", "quarantined:too_long", DEVICE="d" * BIG),
    _i("recommendation id", "exported:RECOMMENDATION_ID=rid-1", RECOMMENDATION_ID="rid-1"),
    _i("source", "exported:EVENT_ATTRIBUTION_SOURCE=storyrec-control", EVENT_ATTRIBUTION_SOURCE="storyrec-control"),
    _i(
        "recommendation id dropped when a source is given",
        "exported:RECOMMENDATION_ID=",
        RECOMMENDATION_ID="rid-1",
        EVENT_ATTRIBUTION_SOURCE="latest",
    ),
    _i("no impression joined without impressions", "exported:IMPRESSION=", RECOMMENDATION_ID="rid-1"),
    _i("an IMPRESSION field on the record is not trusted", "exported:IMPRESSION=", IMPRESSION="=cmd|s1"),
    _i("recommendation id with a newline", "quarantined:control_chars", RECOMMENDATION_ID="r\n1"),
    _i("recommendation id with a pipe", "quarantined:csv_hostile", RECOMMENDATION_ID="r|1"),
    _i("recommendation id of 1,500 bytes", "quarantined:too_long", RECOMMENDATION_ID=ID_1500_BYTES),
    _i("recommendation id a formula", "quarantined:formula_like", RECOMMENDATION_ID="+cmd"),
    _i("recommendation id a path", "quarantined:invalid_id", RECOMMENDATION_ID="a/b"),
    _i("recommendation id a number", "quarantined:bad_string", RECOMMENDATION_ID=7),
    _i("unknown source", "quarantined:not_in_vocabulary", EVENT_ATTRIBUTION_SOURCE="newsletter"),
    _i("source with a comma", "quarantined:csv_hostile", EVENT_ATTRIBUTION_SOURCE="latest,x"),
    _i("source a formula", "quarantined:formula_like", EVENT_ATTRIBUTION_SOURCE="=latest"),
    _i("source a list", "quarantined:bad_string", EVENT_ATTRIBUTION_SOURCE=["latest"]),
]

ITEMS = [
    _s("valid", "exported"),
    _s("summary with commas, quotes and newlines", 'exported:SUMMARY=a, "b"\nc', SUMMARY='a, "b"\nc'),
    _s("tags as a list, a pipe inside one tag", "exported:TAGS=politics world|eu", TAGS=["politics|world", " ", "eu "]),
    _s("item id of 1,500 bytes", "quarantined:too_long", ITEM_ID=ID_1500_BYTES),
    _s("item id with a tab", "quarantined:control_chars", ITEM_ID="s\t1"),
    _s("category is a formula", "quarantined:formula_like", CATEGORY="+cmd|' /C calc'!A0"),
    _s("category with a comma", "quarantined:csv_hostile", CATEGORY="tech,science"),
    _s("tag is a formula", "quarantined:formula_like", TAGS="cloud|=1+1"),
    _s("tags over 1,000 characters", "quarantined:too_long", TAGS="|".join(f"tag{i:04d}" for i in range(200))),
    _s("language not a language tag", "quarantined:bad_pattern", LANGUAGE="english"),
    _s("summary is a formula", "quarantined:formula_like", SUMMARY='=WEBSERVICE("http://x")'),
    _s("summary of 1 MB", "quarantined:too_long", SUMMARY="w" * BIG),
    _s("creation time as a string", "quarantined:bad_long", CREATION_TIMESTAMP="yesterday"),
    _s("creation time of 10^15", "quarantined:future_timestamp", CREATION_TIMESTAMP=10**15),
    _s("missing item id", "quarantined:missing_required", ITEM_ID=...),
    _s("missing creation time", "quarantined:missing_required", CREATION_TIMESTAMP=...),
]

USERS = [
    _u("valid", "exported"),
    _u("country in lower case is normalised", "exported:COUNTRY=DE", COUNTRY="de"),
    _u("user id of 1,500 bytes", "quarantined:too_long", USER_ID=ID_1500_BYTES),
    _u("user id with a bell", "quarantined:control_chars", USER_ID="u\x071"),
    _u("user id is reserved", "quarantined:invalid_id", USER_ID="__u__"),
    _u("user id with a pipe", "quarantined:csv_hostile", USER_ID="a|b"),
    _u("country not a code", "quarantined:bad_pattern", COUNTRY="Germany"),
    _u("language is a formula", "quarantined:formula_like", LANGUAGE="-en"),
    _u("missing user id", "quarantined:missing_required", USER_ID=...),
]

CASES = INTERACTIONS + ITEMS + USERS
