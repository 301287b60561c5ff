"""feeds/{uid} under firestore.rules, exercised by the Firebase JS SDK (tests/rules/feeds.test.mjs)."""

from __future__ import annotations

import pytest

from tests.rules.conftest import run_rules_script

pytestmark = pytest.mark.integration


def test_feeds_are_readable_by_their_owner_only_and_writable_by_no_client(rules_emulator: str) -> None:
    assert len(run_rules_script("feeds.test.mjs", rules_emulator)) == 16
