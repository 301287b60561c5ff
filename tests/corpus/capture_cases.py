"""Capture corpus: clicks, stories and users, each case naming its expected outcome.

``expect`` is one of ``captured``, ``deactivated``, ``ignored``, ``quarantined:<reason>`` or
``error:<ExceptionName>``. Run by tests/unit/capture/test_corpus.py through the capture use cases and,
for every case a Firestore document can express, through the real trigger functions as well.
Grow it: every new hostile input found goes here with its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
VERSION = NOW - timedelta(seconds=30)
"""The source document's update time every story/user case is captured at."""
LONGEST_STORY_ID = "s" * 256
STORIES = ("s1", "-4110354420726924665", LONGEST_STORY_ID)
"""Stories that exist before any click case runs."""

Source = Literal["clicks", "stories", "users", "impressions"]


@dataclass(frozen=True)
class Case:
    name: str
    source: Source
    data: Any
    expect: str
    doc_id: str = ""
    writer: tuple[str, str | None] | None = None
    """(auth type, auth id) of the trigger's auth context, for clicks."""

    @property
    def id(self) -> str:
        return self.doc_id or {"clicks": "c1", "stories": "s2", "users": "u1", "impressions": "i1"}[self.source]


def click(**overrides: Any) -> dict[str, Any]:
    """A valid click as the web client writes it; a field set to None is removed."""
    doc: dict[str, Any] = {
        "userId": "u1",
        "storyId": "s1",
        "type": "read",
        "clientTime": NOW - timedelta(seconds=3),
        "createdAt": NOW - timedelta(seconds=1),
        "sessionId": "sess-1",
        "device": "web",
        "value": 42.5,
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def impression(**overrides: Any) -> dict[str, Any]:
    """A valid impression as the web client writes it; a field set to None is removed."""
    doc: dict[str, Any] = {
        "userId": "u1",
        "storyIds": ["s1", "s2", "s3"],
        "recommendationId": "rid-1",
        "source": "storyrec-popular",
        "clientTime": NOW - timedelta(seconds=3),
        "createdAt": NOW - timedelta(seconds=1),
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def story(**overrides: Any) -> dict[str, Any]:
    """A valid published story; a field set to None is removed."""
    doc: dict[str, Any] = {
        "title": "Cloud costs, explained",
        "url": "https://example.com/a",
        "source": "Example News",
        "category": "tech",
        "tags": ["cloud", "finops"],
        "lang": "EN",
        "summary": "Why the bill\ngrew.\t",
        "publishedAt": NOW - timedelta(days=1),
        "status": "published",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


class Weird(dict[str, Any]):
    """A mapping whose reads fail: stands for a payload shape the checks did not foresee."""

    def get(self, *_: Any) -> Any:
        raise RuntimeError("boom")


LONG_ID = "x" * 1500
LONG_ID_MULTIBYTE = "é" * 751  # 1,502 bytes
MANY_BYTES = {f"b{i}": b"\x01" for i in range(20_000)}
HUGE_TEXT = "x" * 1_200_000

CLICKS: list[Case] = [
    # good and legal-but-extreme clicks
    Case("valid click", "clicks", click(), "captured"),
    Case("type with spaces and capitals", "clicks", click(type=" Read "), "captured"),
    Case("device in capitals", "clicks", click(device="iOS"), "captured"),
    Case("every device of the vocabulary", "clicks", click(device="android-app"), "captured"),
    Case("minimal click", "clicks", click(sessionId=None, device=None, value=None), "captured"),
    Case("blank device is null", "clicks", click(device="   "), "captured"),
    Case("value zero", "clicks", click(value=0), "captured"),
    Case("value a full day", "clicks", click(value=86_400), "captured"),
    Case("numeric story id with a minus", "clicks", click(storyId="-4110354420726924665"), "captured"),
    Case("client clock 2 minutes ahead", "clicks", click(clientTime=NOW + timedelta(minutes=2)), "captured"),
    Case("256-character user id", "clicks", click(userId="u" * 256), "captured"),
    # the reader aggregate's ml_readers/{uid} and its items: the longest ids capture accepts
    Case("256-character user and story ids", "clicks", click(userId="u" * 256, storyId="s" * 256), "captured"),
    Case("unicode user id", "clicks", click(userId="usuário-ü"), "captured"),
    Case("unknown extra fields", "clicks", click(appVersion="3.2.1", role="admin"), "captured"),
    Case(
        "naive createdAt read as UTC",
        "clicks",
        click(createdAt=(NOW - timedelta(seconds=1)).replace(tzinfo=None)),
        "captured",
    ),
    Case("own writer", "clicks", click(), "captured", writer=("unknown", "u1")),
    Case("trusted server writer", "clicks", click(userId="someone"), "captured", writer=("service_account", "x@iam")),
    Case("1500-character click id", "clicks", click(), "quarantined:too_long", doc_id=LONG_ID),
    # payload shapes
    Case("payload a list", "clicks", ["userId", "u1"], "quarantined:not_a_document"),
    Case("payload a scalar", "clicks", 42, "quarantined:not_a_document"),
    Case("payload a string", "clicks", "open s1", "quarantined:not_a_document"),
    Case("deleted before delivery", "clicks", None, "quarantined:not_a_document"),
    Case("empty map", "clicks", {}, "quarantined:missing_field"),
    Case("unforeseen mapping", "clicks", Weird(userId="u1"), "quarantined:unparseable"),
    Case("huge type string", "clicks", click(type=HUGE_TEXT), "quarantined:unknown_type"),
    Case("many small byte values", "clicks", click(type="follow", **MANY_BYTES), "quarantined:unknown_type"),
    Case(
        "deeply nested payload",
        "clicks",
        click(storyId=None, nested=[[[[[[[[[[{"a": 1}]]]]]]]]]]),
        "quarantined:missing_field",
    ),
    # missing and mistyped fields
    Case("missing userId", "clicks", click(userId=None), "quarantined:missing_field"),
    Case("missing storyId", "clicks", click(storyId=None), "quarantined:missing_field"),
    Case("missing type", "clicks", click(type=None), "quarantined:missing_field"),
    Case("missing createdAt", "clicks", click(createdAt=None), "quarantined:missing_field"),
    Case("missing clientTime", "clicks", click(clientTime=None), "quarantined:missing_field"),
    Case("userId a number", "clicks", click(userId=17), "quarantined:wrong_type"),
    Case("storyId a map", "clicks", click(storyId={"id": "s1"}), "quarantined:wrong_type"),
    Case("type a list", "clicks", click(type=["open"]), "quarantined:wrong_type"),
    Case("clientTime in epoch millis", "clicks", click(clientTime=1_700_000_000_000), "quarantined:wrong_type"),
    Case("createdAt a string", "clicks", click(createdAt="2026-11-29T12:00:00Z"), "quarantined:wrong_type"),
    Case("value a string", "clicks", click(value="12"), "quarantined:wrong_type"),
    Case("value a boolean", "clicks", click(value=True), "quarantined:wrong_type"),
    Case("device a map", "clicks", click(device={"os": "ios"}), "quarantined:wrong_type"),
    Case("unknown type", "clicks", click(type="follow"), "quarantined:unknown_type"),
    Case("formula as type", "clicks", click(type="=1+1"), "quarantined:unknown_type"),
    # ids
    Case("blank userId", "clicks", click(userId="   "), "quarantined:empty_value"),
    Case("userId over 256", "clicks", click(userId="u" * 257), "quarantined:too_long"),
    Case("storyId over 256", "clicks", click(storyId="s" * 257), "quarantined:too_long"),
    Case("sessionId over 256", "clicks", click(sessionId="x" * 257), "quarantined:too_long"),
    Case("storyId a sub-document path", "clicks", click(storyId="s1/comments/c1"), "quarantined:invalid_id"),
    Case("storyId a collection path", "clicks", click(storyId="s1/comments"), "quarantined:invalid_id"),
    Case("storyId '.'", "clicks", click(storyId="."), "quarantined:invalid_id"),
    Case("storyId '..'", "clicks", click(storyId=".."), "quarantined:invalid_id"),
    Case("storyId reserved __x__", "clicks", click(storyId="__x__"), "quarantined:invalid_id"),
    Case("story that does not exist", "clicks", click(storyId="nope"), "quarantined:unknown_story"),
    Case("click id with a slash", "clicks", click(), "quarantined:invalid_id", doc_id="a/b"),
    Case("click id '..'", "clicks", click(), "quarantined:invalid_id", doc_id=".."),
    Case("click id reserved", "clicks", click(), "quarantined:invalid_id", doc_id="__name__"),
    Case("click id over 1500 bytes", "clicks", click(), "quarantined:too_long", doc_id=LONG_ID_MULTIBYTE),
    Case("click id with a comma", "clicks", click(), "quarantined:csv_hostile", doc_id="a,b"),
    Case("click id with a newline", "clicks", click(), "quarantined:control_chars", doc_id="line\nbreak"),
    # characters
    Case("newline in userId", "clicks", click(userId="u1\nu2"), "quarantined:control_chars"),
    Case("two newlines in storyId", "clicks", click(storyId="s\n1\n"), "quarantined:control_chars"),
    Case("NUL in storyId", "clicks", click(storyId="s1\x00"), "quarantined:control_chars"),
    Case("bidi override in device", "clicks", click(device="ios\u202e"), "quarantined:control_chars"),
    Case("zero-width space in userId", "clicks", click(userId="u\u200b1"), "quarantined:control_chars"),
    Case("comma in userId", "clicks", click(userId="u1,u2"), "quarantined:csv_hostile"),
    Case("quote in sessionId", "clicks", click(sessionId='a"b'), "quarantined:csv_hostile"),
    Case("pipe in device", "clicks", click(device="ios|android"), "quarantined:csv_hostile"),
    # spreadsheet formulas and vocabularies
    Case("formula storyId", "clicks", click(storyId="=1+1"), "quarantined:formula_like"),
    Case("formula userId", "clicks", click(userId="@cmd"), "quarantined:formula_like"),
    Case("formula device =", "clicks", click(device="=1+1"), "quarantined:formula_like"),
    Case("formula device @", "clicks", click(device="@SUM(A1)"), "quarantined:formula_like"),
    Case("formula device +", "clicks", click(device="+cmd"), "quarantined:formula_like"),
    Case("formula device -", "clicks", click(device="-x"), "quarantined:formula_like"),
    Case("formula sessionId", "clicks", click(sessionId="=HYPERLINK(1)"), "quarantined:formula_like"),
    Case("device outside the vocabulary", "clicks", click(device="phone"), "quarantined:not_in_vocabulary"),
    Case("device over 1000", "clicks", click(device="d" * 1001), "quarantined:too_long"),
    # times and numbers
    Case(
        "clientTime in the future", "clicks", click(clientTime=NOW + timedelta(hours=1)), "quarantined:future_timestamp"
    ),
    Case("createdAt in the future", "clicks", click(createdAt=NOW + timedelta(days=2)), "quarantined:future_timestamp"),
    Case(
        "clientTime in 1970", "clicks", click(clientTime=datetime(1970, 1, 1, tzinfo=UTC)), "quarantined:past_timestamp"
    ),
    Case(
        "createdAt in 2001", "clicks", click(createdAt=datetime(2001, 9, 9, tzinfo=UTC)), "quarantined:past_timestamp"
    ),
    Case("negative value", "clicks", click(value=-1), "quarantined:invalid_value"),
    Case("NaN value", "clicks", click(value=float("nan")), "quarantined:invalid_value"),
    Case("infinite value", "clicks", click(value=float("inf")), "quarantined:invalid_value"),
    Case("value over a day", "clicks", click(value=90_000), "quarantined:invalid_value"),
    Case("value 1e308", "clicks", click(value=1e308), "quarantined:invalid_value"),
    # who wrote it
    Case(
        "click for another user",
        "clicks",
        click(userId="victim"),
        "quarantined:user_mismatch",
        writer=("unknown", "attacker"),
    ),
    Case("unauthenticated writer", "clicks", click(), "quarantined:unauthenticated", writer=("unauthenticated", None)),
]

STORY_CASES: list[Case] = [
    Case("valid story", "stories", story(), "captured"),
    Case("story without status", "stories", story(status=None), "captured"),
    Case("only createdAt and a title", "stories", {"createdAt": NOW, "title": "t"}, "captured"),
    Case("numeric story id", "stories", story(), "captured", doc_id="-7292285110016212249"),
    Case("duplicate and blank tags", "stories", story(tags=["cloud", " finops ", "cloud", ""]), "captured"),
    Case("300 tags: kept while they fit", "stories", story(tags=[f"tag-{i:05d}" for i in range(300)]), "captured"),
    Case("signed numeric tag", "stories", story(tags=["+1", "-2"]), "quarantined:formula_like"),
    Case("numeric tag", "stories", story(tags=["1", "2"]), "captured"),
    Case("summary starting with a formula", "stories", story(summary='=HYPERLINK("x")'), "captured"),
    Case("summary of 1 MB", "stories", story(summary=HUGE_TEXT), "captured"),
    Case("language with region", "stories", story(lang="pt-BR"), "captured"),
    Case("status in capitals", "stories", story(status=" Published "), "captured"),
    Case("draft", "stories", story(status="draft"), "deactivated"),
    Case("archived", "stories", story(status="archived"), "deactivated"),
    Case("status not a string", "stories", story(status=3), "deactivated"),
    Case("deleted", "stories", None, "deactivated"),
    Case("deleted under a path-like id", "stories", None, "ignored", doc_id="a/b"),
    Case("payload a list", "stories", [story()], "quarantined:not_a_document"),
    Case("payload a scalar", "stories", 7, "quarantined:not_a_document"),
    Case("no publication time", "stories", story(publishedAt=None), "quarantined:missing_field"),
    Case("publishedAt a number", "stories", story(publishedAt=1_700_000_000), "quarantined:wrong_type"),
    Case(
        "published in the future", "stories", story(publishedAt=NOW + timedelta(days=3)), "quarantined:future_timestamp"
    ),
    Case(
        "published before 2010",
        "stories",
        story(publishedAt=datetime(1999, 1, 1, tzinfo=UTC)),
        "quarantined:past_timestamp",
    ),
    Case("tags a string", "stories", story(tags="cloud,finops"), "quarantined:wrong_type"),
    Case("tags with a number", "stories", story(tags=["a", 1]), "quarantined:wrong_type"),
    Case("summary a number", "stories", story(summary=5), "quarantined:wrong_type"),
    Case("tag with a pipe", "stories", story(tags=["a|b"]), "quarantined:csv_hostile"),
    Case("formula tag", "stories", story(tags=["ok", "@cmd"]), "quarantined:formula_like"),
    Case("category with a comma", "stories", story(category="tech, cloud"), "quarantined:csv_hostile"),
    Case("category with two newlines", "stories", story(category="te\nc\nh"), "quarantined:control_chars"),
    Case("formula category", "stories", story(category="=cmd"), "quarantined:formula_like"),
    Case("formula source", "stories", story(source="-cmd"), "quarantined:formula_like"),
    Case("source over 1000", "stories", story(source="s" * 1001), "quarantined:too_long"),
    Case("lang a number", "stories", story(lang=1), "quarantined:wrong_type"),
    Case("lang a word", "stories", story(lang="english"), "quarantined:bad_pattern"),
    Case("formula lang", "stories", story(lang="=1"), "quarantined:formula_like"),
    Case("story id with a comma", "stories", story(), "quarantined:csv_hostile", doc_id="a,b"),
    Case("story id a path", "stories", story(), "quarantined:invalid_id", doc_id="a/b"),
    Case("story id '.'", "stories", story(), "quarantined:invalid_id", doc_id="."),
    Case("story id 1500 characters", "stories", story(), "quarantined:too_long", doc_id=LONG_ID),
]

USER_CASES: list[Case] = [
    Case("valid user", "users", {"lang": "PT", "country": "br"}, "captured"),
    Case("empty profile", "users", {}, "captured"),
    Case("personal data not copied", "users", {"displayName": "Ana", "email": "a@example.com"}, "captured"),
    Case("role and isAdmin ignored", "users", {"lang": "en", "role": "admin", "isAdmin": True}, "captured"),
    Case("script language tag", "users", {"lang": "zh-Hant"}, "captured"),
    Case("numeric uid", "users", {"lang": "en"}, "captured", doc_id="-8845298781299428018"),
    Case("many small byte values", "users", {"lang": "en", **MANY_BYTES}, "captured"),
    Case("deleted user", "users", None, "deactivated"),
    Case("payload a list", "users", ["en"], "quarantined:not_a_document"),
    Case("payload a string", "users", "en", "quarantined:not_a_document"),
    Case("lang a list", "users", {"lang": ["en"]}, "quarantined:wrong_type"),
    Case("lang a number", "users", {"lang": 12}, "quarantined:wrong_type"),
    Case("country with a pipe", "users", {"country": "B|R"}, "quarantined:csv_hostile"),
    Case("country with a newline", "users", {"country": "B\nR"}, "quarantined:control_chars"),
    Case("lang over 1000", "users", {"lang": "e" * 1001}, "quarantined:too_long"),
    Case("country a name", "users", {"country": "Brazil"}, "quarantined:bad_pattern"),
    Case("formula country", "users", {"country": "=1+1"}, "quarantined:formula_like"),
    Case("formula lang", "users", {"lang": "@cmd"}, "quarantined:formula_like"),
    Case("lang with a digit", "users", {"lang": "e1"}, "quarantined:bad_pattern"),
    Case("many byte values and a bad lang", "users", {"lang": "english", **MANY_BYTES}, "quarantined:bad_pattern"),
    Case("uid a path", "users", {"lang": "en"}, "quarantined:invalid_id", doc_id="a/b"),
    Case("uid reserved", "users", {"lang": "en"}, "quarantined:invalid_id", doc_id="__x__"),
    Case("uid 1500 characters", "users", {"lang": "en"}, "quarantined:too_long", doc_id=LONG_ID),
]

ATTRIBUTED_CLICKS: list[Case] = [
    Case("click with a recommendation id", "clicks", click(recommendationId="rid-1"), "captured"),
    Case("click with a source", "clicks", click(source="storyrec-control"), "captured"),
    Case("click with both", "clicks", click(recommendationId="rid-1", source="latest"), "captured"),
    Case("click with a blank source", "clicks", click(source="  "), "captured"),
    Case("click with an unknown source", "clicks", click(source="newsletter"), "quarantined:not_in_vocabulary"),
    Case("click with a source in capitals", "clicks", click(source="LATEST"), "quarantined:not_in_vocabulary"),
    Case("click with a formula source", "clicks", click(source="=cmd"), "quarantined:formula_like"),
    Case("click with a numeric source", "clicks", click(source=3), "quarantined:wrong_type"),
    Case("recommendation id with a newline", "clicks", click(recommendationId="r\n1"), "quarantined:control_chars"),
    Case("recommendation id with a pipe", "clicks", click(recommendationId="r|1"), "quarantined:csv_hostile"),
    Case("recommendation id a path", "clicks", click(recommendationId="a/b"), "quarantined:invalid_id"),
    Case("recommendation id 257 characters", "clicks", click(recommendationId="r" * 257), "quarantined:too_long"),
    Case("recommendation id 1,500 bytes", "clicks", click(recommendationId="é" * 750), "quarantined:too_long"),
    Case("recommendation id reserved", "clicks", click(recommendationId="__x__"), "quarantined:invalid_id"),
    Case("recommendation id a formula", "clicks", click(recommendationId="@SUM(1)"), "quarantined:formula_like"),
    Case("recommendation id a list", "clicks", click(recommendationId=["r1"]), "quarantined:wrong_type"),
]

IMPRESSION_CASES: list[Case] = [
    Case("valid impression", "impressions", impression(), "captured"),
    Case("minimal impression", "impressions", impression(recommendationId=None, source=None), "captured"),
    Case("25 stories", "impressions", impression(storyIds=[f"s{i}" for i in range(25)]), "captured"),
    Case("numeric story ids", "impressions", impression(storyIds=["-4110354420726924665", "12"]), "captured"),
    Case("256-character story id", "impressions", impression(storyIds=["s" * 256]), "captured"),
    Case("story ids with spaces are trimmed", "impressions", impression(storyIds=[" s1 ", "s2"]), "captured"),
    Case("unknown extra fields", "impressions", impression(arm="champion"), "captured"),
    Case("own writer", "impressions", impression(), "captured", writer=("unknown", "u1")),
    Case(
        "forged userId", "impressions", impression(userId="u2"), "quarantined:user_mismatch", writer=("unknown", "u1")
    ),
    Case("signed out", "impressions", impression(), "quarantined:unauthenticated", writer=("unauthenticated", None)),
    Case("26 stories", "impressions", impression(storyIds=[f"s{i}" for i in range(26)]), "quarantined:too_many"),
    Case("no story", "impressions", impression(storyIds=[]), "quarantined:empty_value"),
    Case("storyIds missing", "impressions", impression(storyIds=None), "quarantined:missing_field"),
    Case("duplicate story ids", "impressions", impression(storyIds=["s1", "s2", "s1"]), "quarantined:duplicate"),
    Case("duplicates once trimmed", "impressions", impression(storyIds=["s1", " s1"]), "quarantined:duplicate"),
    Case("storyIds a string", "impressions", impression(storyIds="s1|s2"), "quarantined:wrong_type"),
    Case("storyIds a map", "impressions", impression(storyIds={"a": "s1"}), "quarantined:wrong_type"),
    Case("a number among the ids", "impressions", impression(storyIds=["s1", 7]), "quarantined:wrong_type"),
    Case("blank story id", "impressions", impression(storyIds=["s1", "  "]), "quarantined:empty_value"),
    Case("story id with a newline", "impressions", impression(storyIds=["s1", "s\n2"]), "quarantined:control_chars"),
    Case("story id with NUL", "impressions", impression(storyIds=["s\x001"]), "quarantined:control_chars"),
    Case("story id with a bidi mark", "impressions", impression(storyIds=["s\u202e1"]), "quarantined:control_chars"),
    Case("story id with a pipe", "impressions", impression(storyIds=["s1|s2"]), "quarantined:csv_hostile"),
    Case("story id with a comma", "impressions", impression(storyIds=["s1,s2"]), "quarantined:csv_hostile"),
    Case("story id 257 characters", "impressions", impression(storyIds=["s" * 257]), "quarantined:too_long"),
    Case("story id 1,500 bytes", "impressions", impression(storyIds=["é" * 750]), "quarantined:too_long"),
    Case("story id a path", "impressions", impression(storyIds=["s1/comments/c1"]), "quarantined:invalid_id"),
    Case("story id reserved", "impressions", impression(storyIds=["__name__"]), "quarantined:invalid_id"),
    Case("story id a formula", "impressions", impression(storyIds=["=1+1"]), "quarantined:formula_like"),
    Case("unknown source", "impressions", impression(source="my-campaign"), "quarantined:not_in_vocabulary"),
    Case("recommendation id with a pipe", "impressions", impression(recommendationId="r|1"), "quarantined:csv_hostile"),
    Case("userId missing", "impressions", impression(userId=None), "quarantined:missing_field"),
    Case("createdAt missing", "impressions", impression(createdAt=None), "quarantined:missing_field"),
    Case("createdAt a string", "impressions", impression(createdAt="2026-11-29"), "quarantined:wrong_type"),
    Case(
        "createdAt in the future",
        "impressions",
        impression(createdAt=NOW + timedelta(hours=1)),
        "quarantined:future_timestamp",
    ),
    Case(
        "clientTime before 2010",
        "impressions",
        impression(clientTime=datetime(2001, 1, 1, tzinfo=UTC)),
        "quarantined:past_timestamp",
    ),
    Case("payload a list", "impressions", ["s1", "s2"], "quarantined:not_a_document"),
    Case("impression id a path", "impressions", impression(), "quarantined:invalid_id", doc_id="a/b"),
    Case("impression id 1500 characters", "impressions", impression(), "quarantined:too_long", doc_id=LONG_ID),
    Case("impression id with a pipe", "impressions", impression(), "quarantined:csv_hostile", doc_id="i|1"),
]

CASES: list[Case] = [*CLICKS, *ATTRIBUTED_CLICKS, *STORY_CASES, *USER_CASES, *IMPRESSION_CASES]


@dataclass(frozen=True)
class Fault:
    """An infrastructure failure during capture: it must propagate (the trigger retries), never quarantine."""

    name: str
    source: Source
    method: str
    """The DocumentStore method that fails."""
    expect: str
    data: Mapping[str, Any] | None = None


FAULTS: list[Fault] = [
    Fault("story lookup fails during a click", "clicks", "get", "error:ServiceUnavailable", click()),
    Fault("interaction write fails", "clicks", "create", "error:ServiceUnavailable", click()),
    Fault("quarantine write fails", "clicks", "create", "error:ServiceUnavailable", click(type="follow")),
    Fault("item write fails", "stories", "put_versioned", "error:ServiceUnavailable", story()),
    Fault("tombstone write fails", "stories", "put_versioned", "error:ServiceUnavailable", None),
    Fault("user write fails", "users", "put_versioned", "error:ServiceUnavailable", {"lang": "en"}),
    Fault("credentials refused", "users", "put_versioned", "error:AccessDenied", {"lang": "en"}),
]
