"""refresh_feed's error mapping, through its real ``on_call`` wrapper (Flask request in, HTTP response out).

The end-to-end proof with the Firebase JS SDK is tests/e2e/recommend/test_refresh_auth.py; this covers what
the emulators cannot stage cheaply: a backing service that is down (→ UNAVAILABLE, never INTERNAL), and the
order of the checks, without a network.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import flask
import pytest

from shared.errors import ServiceUnavailable
from shared.recommend import RefreshResult
from tests.integration.recommend.test_handlers import id_token
from tests.unit.recommend.test_endpoints import _module

pytestmark = pytest.mark.unit
PROJECT = "demo-storyrec"


@pytest.fixture
def refresh(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """functions_gcp/recommend.py with the use case replaced; ID tokens verified as in the emulator."""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # firebase-admin accepts unsigned tokens
    calls: list[str] = []

    def refresh_user(deps: Any, uid: str) -> Any:
        calls.append(uid)
        return _result(uid)

    module = _module(monkeypatch)
    monkeypatch.setattr(module, "feed_deps", lambda settings: None)
    monkeypatch.setattr(module, "refresh_user", refresh_user)
    module.calls = calls  # type: ignore[attr-defined]
    return module


def _result(uid: str) -> Any:
    return RefreshResult(uid, "personalized", False, 10)


def _call(module: ModuleType, body: Any, uid: str | None, project: str = PROJECT) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {id_token(uid, project)}"} if uid else {}
    app = flask.Flask(__name__)
    with app.test_request_context(
        "/", method="POST", data=json.dumps(body), headers=headers, content_type="application/json"
    ):
        response = module.refresh_feed(flask.request)
    return response.status_code, json.loads(response.get_data())


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({}, 200, None),
        (None, 200, None),
        ({"uid": "alice"}, 200, None),
        ({"uid": "bob"}, 403, "PERMISSION_DENIED"),
        ("alice", 400, "INVALID_ARGUMENT"),
        ([{"uid": "alice"}], 400, "INVALID_ARGUMENT"),
        ({"uid": 7}, 400, "INVALID_ARGUMENT"),
        ({"uid": "alice", "extra": 1}, 400, "INVALID_ARGUMENT"),
        ({"uid": "a" * 10_000}, 400, "INVALID_ARGUMENT"),
        ({"uid": "alice\u2028"}, 400, "INVALID_ARGUMENT"),
        ({"uid": "alice/feeds/bob"}, 400, "INVALID_ARGUMENT"),
    ],
)
def test_payloads_map_to_clear_codes(refresh: ModuleType, data: Any, status: int, code: str | None) -> None:
    got, body = _call(refresh, {"data": data}, "alice")
    assert got == status, body
    if code is None:
        assert body["result"] == {"uid": "alice", "kind": "personalized", "stale": False, "items": 10}
        assert refresh.calls == ["alice"]
    else:
        assert body["error"]["status"] == code and refresh.calls == []
        assert len(json.dumps(body)) < 500  # the message never echoes a hostile value


def test_sign_in_is_checked_before_the_payload(refresh: ModuleType) -> None:
    assert _call(refresh, {"data": 42}, None)[1]["error"]["status"] == "UNAUTHENTICATED"


def test_a_token_issued_for_another_project_is_refused(refresh: ModuleType) -> None:
    # even in emulator mode firebase-admin checks the audience and issuer (not the signature)
    status, body = _call(refresh, {"data": {}}, "alice", project="someone-elses-app")
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED") and refresh.calls == []


def test_a_caller_whose_uid_cannot_be_a_feed_id_is_refused_before_any_work(refresh: ModuleType) -> None:
    status, body = _call(refresh, {"data": {}}, "a,b")
    assert (status, body["error"]["status"]) == (400, "FAILED_PRECONDITION") and refresh.calls == []


def test_the_framework_refuses_a_body_that_is_not_a_callable_request(refresh: ModuleType) -> None:
    status, body = _call(refresh, {"data": {}, "extra": 1}, "alice")
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT") and refresh.calls == []


def test_an_unavailable_backend_is_unavailable_not_internal(
    refresh: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(deps: Any, uid: str) -> Any:
        raise ServiceUnavailable("firestore unreachable")

    monkeypatch.setattr(refresh, "refresh_user", down)
    status, body = _call(refresh, {"data": {}}, "alice")
    assert (status, body["error"]["status"]) == (503, "UNAVAILABLE")
