"""The refresh_feed callable's authorization, end to end with the Firebase JS SDK.

firebase-tools runs the Auth, Firestore (with firestore.rules) and Functions emulators; the Functions
emulator serves the real functions_gcp (decorators and all), whose refresh reads Firestore and calls the
local Personalize engine trained on Deskdrop (tests/integration/recommend's fixture). A Node script
(tests/rules/refresh_auth.test.mjs) signs clients in on the Auth emulator and calls the function with
``httpsCallable``, then reads feeds with the JS SDK's Firestore client, as the app would.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.firebase import emulators
from shared.config import Settings
from shared.recommend.document import feed_story_ids
from tests.integration.recommend import conftest as recommend_fixtures
from tests.rules.conftest import run_rules_script

pytestmark = pytest.mark.e2e

deskdrop = recommend_fixtures.deskdrop  # the trained campaign (module scope), shared with the integration tests
Deskdrop = recommend_fixtures.Deskdrop
OTHER_FEED = {"uid": "seeded", "kind": "popular", "storyIds": ["kept-1", "kept-2"], "stale": False, "runId": "seed"}
CASES = 44  # the ``ok`` lines refresh_auth.test.mjs prints when every case passes


def _function_env(deskdrop: Deskdrop) -> dict[str, str]:
    """What the deployed function reads: the campaign's settings and the stack's AWS endpoints (moto, engine)."""
    env = {k: v for k, v in deskdrop.env.items() if k.startswith(("AWS_", "STORYREC_"))}
    # windows wide enough to reach 2017's Deskdrop with a real clock
    env.update({"STORYREC_FEED_ACTIVE_DAYS": "3650", "STORYREC_FEED_MAX_STORY_AGE_DAYS": "36500"})
    return env


def _users(deskdrop: Deskdrop) -> tuple[str, str]:
    """The two users with the most history: the one who refreshes, the one whose feed must not change."""
    counts = deskdrop.interactions["USER_ID"].astype(str).value_counts()
    return str(counts.index[0]), str(counts.index[1])


@pytest.fixture(scope="module")
def suite(deskdrop: Deskdrop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulators.Suite]:
    """Auth + Firestore + Functions emulators over the bundled functions_gcp, refresh_feed loaded."""

    try:
        tools_env = {**emulators.setup(), **_function_env(deskdrop)}
        emulators.bundle()
        with emulators.firebase_suite(
            tmp_path_factory.mktemp("refresh-suite"), tools_env, 1, 180.0, auth=True
        ) as running:
            running.wait_for_function("refresh_feed", "http")
            yield running
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def store(suite: emulators.Suite, deskdrop: Deskdrop) -> Iterator[Any]:
    """The suite's Firestore holding the catalogue, the refreshing user's history and the other user's feed.

    Event triggers are off while seeding: the capture and first-feed functions must not react to it.
    """
    from shared import wiring
    from shared.ports import Write

    owner, other = _users(deskdrop)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIRESTORE_EMULATOR_HOST", suite.firestore_host)
        docs = wiring.document_store(Settings.from_env({**deskdrop.env, **suite.env}))
        writes = [Write(f"feeds/{other}", data=OTHER_FEED)]
        for row in deskdrop.items.itertuples(index=False):
            sid, created = str(row.ITEM_ID), int(row.CREATION_TIMESTAMP)
            story = {"title": f"Story {sid}", "url": f"https://deskdrop/{sid}", "source": "deskdrop"}
            writes.append(Write(f"stories/{sid}", data={**story, "status": "published"}))
            writes.append(
                Write(f"ml_items/{sid}", data={"ITEM_ID": sid, "CREATION_TIMESTAMP": created, "active": True})
            )
        mine = deskdrop.interactions[deskdrop.interactions["USER_ID"].astype(str) == owner]
        for i, row in enumerate(mine.itertuples(index=False)):
            event = {"USER_ID": owner, "ITEM_ID": str(row.ITEM_ID), "TIMESTAMP": int(row.TIMESTAMP)}
            writes.append(Write(f"ml_interactions/{owner}-{i}", data={**event, "EVENT_TYPE": str(row.EVENT_TYPE)}))
        suite.background_triggers(False)
        try:
            docs.write_batch(writes)
        finally:
            suite.background_triggers(True)
        yield docs


def _warm_up(suite: emulators.Suite) -> None:
    """One signed-out call starts the function's Python runtime, so the script's timings are the calls'."""
    url = f"http://127.0.0.1:{suite.functions_port}/{emulators.PROJECT}/us-central1/refresh_feed"
    request = urllib.request.Request(url, b'{"data": {}}', {"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(request, timeout=120).close()  # loopback only
    except urllib.error.HTTPError as exc:
        assert exc.code == 401, exc.read()[:500]


def test_js_sdk_clients_refresh_only_their_own_feed_and_read_only_their_own(
    suite: emulators.Suite, store: Any, deskdrop: Deskdrop, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, other = _users(deskdrop)
    _warm_up(suite)
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", suite.auth_host or "")
    monkeypatch.setenv("FUNCTIONS_EMULATOR_HOST", f"127.0.0.1:{suite.functions_port}")
    monkeypatch.setenv("REFRESH_OWNER", owner)
    monkeypatch.setenv("REFRESH_OTHER", other)

    passed = run_rules_script("refresh_auth.test.mjs", suite.firestore_host)

    assert len(passed) == CASES, passed
    # the allowed refresh did the real work: a personalized feed from the engine's serving version
    feed = store.get(f"feeds/{owner}")
    assert feed["kind"] == "personalized" and feed["solutionVersionArn"] == deskdrop.solution_version_arn
    read = set(deskdrop.interactions.loc[deskdrop.interactions["USER_ID"].astype(str) == owner, "ITEM_ID"].astype(str))
    stories = feed_story_ids(feed)
    assert stories and not read & set(stories)
    # the refused ones wrote nothing
    assert store.get(f"feeds/{other}") == OTHER_FEED
    assert store.get("feeds/carol") is None and store.get("feeds/odd,uid") is None
    # every refusal was an HttpsError the handler chose: nothing reached the framework's INTERNAL path
    assert "Unhandled error" not in suite.output()
