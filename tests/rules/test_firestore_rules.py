"""firestore.rules in the official emulator (started with --rules), exercised by the Firebase JS SDK."""

from __future__ import annotations

import json

import pytest

from tests.rules.conftest import HERE, run_rules_script

pytestmark = pytest.mark.integration


def test_rules_allow_and_deny_cases(rules_emulator: str) -> None:
    passed = run_rules_script("rules.test.mjs", rules_emulator)
    corpus = json.loads((HERE.parent / "corpus" / "rules_cases.json").read_text(encoding="utf-8"))["cases"]
    assert len([line for line in passed if " corpus: " in line]) == len(corpus)
    assert len(passed) >= 15 + len(corpus)
