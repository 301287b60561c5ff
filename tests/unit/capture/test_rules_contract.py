"""firestore.rules and shared/limits.py say the same thing: the attribution vocabulary, the impression
size, and the one-expression id check of impression story ids (rules cannot import Python; this test
is what keeps the two copies equal)."""

from __future__ import annotations

import re
from pathlib import Path

import regex  # RE2-like Unicode classes (\p{Cc}), which the standard re module lacks
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.limits import ATTRIBUTION_SOURCES, IMPRESSION_MAX_IDS, rule

RULES = (Path(__file__).resolve().parents[3] / "firestore.rules").read_text(encoding="utf-8")


def _function(name: str) -> str:
    start = RULES.index(f"function {name}(")
    return RULES[start : RULES.index("\n    }\n", start)]


def _patterns() -> list[regex.Pattern[str]]:
    found = re.findall(r"joined\.matches\('(.*)'\)", _function("validJoinedIds"))
    assert len(found) == 2
    return [regex.compile(p.replace("\\\\", "\\")) for p in found]


LENGTHS, IDS = _patterns()
ITEM_ID = rule("interactions", "ITEM_ID")


def rules_accept(ids: list[str]) -> bool:
    """validStoryIds of firestore.rules, step by step (a list of strings)."""
    if not 1 <= len(ids) <= 25 or len(set(ids)) != len(ids):
        return False
    joined = "|".join(ids)
    parts = joined.split("|")
    while parts and parts[-1] == "":  # the rules' split drops trailing empty parts (as Java's does)
        parts.pop()
    return len(parts) == len(ids) and bool(LENGTHS.fullmatch(joined)) and bool(IDS.fullmatch(joined))


def capture_accepts(ids: list[str]) -> bool:
    """What capture accepts (shared/limits.py): each id a valid ITEM_ID, distinct, 1..25 of them."""
    ok = all(ITEM_ID.problem(v) is None for v in ids)
    return ok and 1 <= len(ids) <= IMPRESSION_MAX_IDS and len(set(ids)) == len(ids)


def test_the_source_vocabulary_is_the_one_of_shared_limits() -> None:
    lists = re.findall(r"d\.source in \[([^\]]*)\]", RULES)
    assert lists, "firestore.rules checks no source"
    for found in lists:
        assert tuple(re.findall(r"'([^']*)'", found)) == ATTRIBUTION_SOURCES


def test_an_impression_holds_at_most_the_limit_of_ids() -> None:
    assert f"ids.size() <= {IMPRESSION_MAX_IDS}" in _function("validStoryIds")
    assert "validStoryIds(d.storyIds)" in _function("validImpression")
    unrolled = sorted(int(i) for i in re.findall(r"strAt\(ids, (\d+)\)", _function("validStoryIds")))
    assert unrolled == list(range(IMPRESSION_MAX_IDS))


_ALPHABET = st.sampled_from(list('ab1_.-+=@/|,"\n\t\u202e\u2028\u200b é0 '))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(_ALPHABET, max_size=8), st.text(max_size=12)))
@example(".")
@example("..")
@example("...")
@example("_")
@example("__")
@example("___")
@example("____")
@example("__x__")
@example("__x_")
@example("___x")
@example("-4110354420726924665")
@example("-1.5")
@example("-x")
@example("=1+1")
@example("s1")
def test_the_rules_story_id_check_is_the_capture_check(value: str) -> None:
    if value.strip() == "" and value != "":
        return  # blanks: the rules accept a space-only id (as isId does); capture quarantines it (empty_value)
    assert rules_accept([value]) == capture_accepts([value]), repr(value)
    assert rules_accept(["s1", value, "s2"]) == capture_accepts(["s1", value, "s2"]), repr(value)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(_ALPHABET, min_size=0, max_size=4), max_size=27))
def test_the_rules_list_check_is_the_capture_check(ids: list[str]) -> None:
    if any(v.strip() == "" and v != "" for v in ids):
        return
    assert rules_accept(ids) == capture_accepts(ids), repr(ids)


def test_lengths_count_characters_per_id() -> None:
    assert rules_accept(["s" * 256] * 1)
    assert not rules_accept(["s" * 257])
    assert not rules_accept(["s1", "é" * 750])
    assert rules_accept([f"s{i}" for i in range(25)])
    assert not rules_accept([f"s{i}" for i in range(26)])


def test_the_rules_corpus_allows_every_source_of_the_vocabulary_and_denies_others() -> None:
    import json

    corpus = json.loads((Path(__file__).resolve().parents[2] / "corpus" / "rules_cases.json").read_text())["cases"]

    def sources(expect: str) -> set[str]:
        out = set()
        for case in corpus:
            data = case.get("data") or {}
            fields = data.get("$impression") or data.get("$click") or {}
            about_source = expect == "allow" or "source" in case["name"]  # denied for its source, not another field
            if case["expect"] == expect and about_source and isinstance(fields.get("source"), str):
                out.add(fields["source"])
        return out

    allowed = sources("allow") | {"storyrec-popular"}  # the default of every $impression case
    assert allowed == set(ATTRIBUTION_SOURCES)
    assert sources("deny") and not sources("deny") & set(ATTRIBUTION_SOURCES)
