"""The feed handlers served by functions-framework and called over real HTTP (decorators and all):
the callable with Firebase ID tokens, the scheduler's POST, and a Firestore CloudEvent for a new user."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.local.stack import free_port
from shared.recommend.document import feed_story_ids
from tests.integration.recommend.conftest import Deskdrop

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def id_token(uid: str, project: str) -> str:
    """An unsigned Firebase ID token, as the Auth emulator issues them (accepted only in emulator mode)."""
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "iat": now - 10,
        "exp": now + 3600,
        "auth_time": now - 10,
        "firebase": {"sign_in_provider": "custom"},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@contextmanager
def serve(target: str, env: dict[str, str], logs: Path, signature: str = "http") -> Iterator[str]:
    """functions-framework serving ``target`` of functions_gcp/main.py; yields its URL; stops its group."""
    port = free_port()
    log = open(logs / f"ff-{target}-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            target,
            "--source",
            str(REPO / "functions_gcp" / "main.py"),
            "--signature-type",
            signature,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO / "functions_gcp",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):  # a TCP probe: any HTTP request would run the function
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(Path(log.name).read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())


def _json(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError:
        return {"text": raw.decode(errors="replace")}
    return found if isinstance(found, dict) else {"value": found}


@pytest.fixture
def function_env(deskdrop: Deskdrop, seeded: Any) -> dict[str, str]:
    """What the deployed functions read, for a real clock: windows wide enough to reach 2017's Deskdrop."""
    env = {**os.environ, **deskdrop.env}
    env.update(
        {
            "STORYREC_FEED_ACTIVE_DAYS": "3650",
            "STORYREC_FEED_MAX_STORY_AGE_DAYS": "36500",
            "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",  # unsigned ID tokens, as from the Auth emulator
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def call(url: str, project: str, data: dict[str, Any], uid: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if uid is not None:
        headers["Authorization"] = f"Bearer {id_token(uid, project)}"
    return post(url, json.dumps({"data": data}).encode(), headers)


def test_callable_refreshes_only_the_callers_own_feed(
    deskdrop: Deskdrop, seeded: Any, function_env: dict[str, str], tmp_path: Path
) -> None:
    project = deskdrop.settings.gcp_project
    users = sorted(deskdrop.interactions["USER_ID"].astype(str).unique())
    me, other = users[0], users[1]
    with serve("refresh_feed", function_env, tmp_path) as url:
        status, body = call(url, project, {}, me)
        assert status == 200, body
        assert body["result"]["uid"] == me and body["result"]["items"] > 0 and body["result"]["stale"] is False
        assert feed_story_ids(seeded.get(f"feeds/{me}"))
        status, body = call(url, project, {"uid": me}, me)
        assert status == 200, body
        status, body = call(url, project, {"uid": other}, me)
        assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
        status, body = call(url, project, {}, None)
        assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        status, body = post(
            url,
            json.dumps({"data": {}}).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer not-a-token"},
        )
        assert status == 401
    assert seeded.get(f"feeds/{other}") is None


def test_scheduled_fill_runs_on_the_schedulers_post(
    deskdrop: Deskdrop, seeded: Any, function_env: dict[str, str], tmp_path: Path
) -> None:
    headers = {
        "X-CloudScheduler-ScheduleTime": "2026-11-29T05:00:00Z",
        "X-CloudScheduler-JobName": "feeds",
        "Content-Type": "application/json",
    }
    # the deployed fill reads its window back from the real clock: one click of an hour ago keeps this reader in it
    # whatever the data's dates (2017's Deskdrop leaves a 10-year window in 2027; the generated stand-in did already)
    last = deskdrop.interactions.iloc[-1]
    uid = str(last["USER_ID"])
    recent = {"USER_ID": uid, "ITEM_ID": str(last["ITEM_ID"]), "EVENT_TYPE": str(last["EVENT_TYPE"])}
    seeded.set(f"ml_interactions/recent-{uid}", {**recent, "TIMESTAMP": int(time.time()) - 3600})
    with serve("fill_feeds_daily", function_env, tmp_path) as url:
        status, _ = post(url, b"{}", headers)
    assert status == 200
    written = seeded.get(f"feeds/{uid}")
    assert written is not None and written["runId"] == "20261129T050000" and feed_story_ids(written)


def test_a_new_user_document_gets_a_first_feed(
    deskdrop: Deskdrop, seeded: Any, function_env: dict[str, str], tmp_path: Path
) -> None:
    from google.events.cloud.firestore import Document, DocumentEventData

    project = deskdrop.settings.gcp_project

    def created(uid: str) -> tuple[bytes, dict[str, str]]:
        path = f"projects/{project}/databases/(default)/documents/users/{uid}"
        headers = {
            "ce-specversion": "1.0",
            "ce-id": uuid.uuid4().hex,
            "ce-source": f"//firestore.googleapis.com/projects/{project}",
            "ce-type": "google.cloud.firestore.document.v1.created",
            "ce-time": "2026-11-29T05:00:00Z",
            "ce-location": "nam5",
            "ce-project": project,
            "ce-database": "(default)",
            "ce-namespace": "(default)",
            "ce-document": f"users/{uid}",
            "ce-subject": f"documents/users/{uid}",
            "Content-Type": "application/protobuf",
        }
        return DocumentEventData.serialize(DocumentEventData(value=Document(name=path))), headers

    uid, late = f"new-{uuid.uuid4().hex[:6]}", f"late-{uuid.uuid4().hex[:6]}"
    # a refresh at 06:00 wrote late's feed before the 05:00 creation event was delivered
    newer = {"kind": "personalized", "generatedAt": datetime(2026, 11, 29, 6, tzinfo=UTC), "itemsJson": "[]"}
    seeded.set(f"feeds/{late}", newer)
    with serve("first_feed_for_new_user", function_env, tmp_path, signature="cloudevent") as url:
        body, headers = created(uid)
        status, _ = post(url, body, headers)
        assert status == 200
        feed = seeded.get(f"feeds/{uid}")
        assert feed is not None and feed["kind"] == "popular" and len(feed_story_ids(feed)) == 10
        status, _ = post(url, body, {**headers, "ce-id": uuid.uuid4().hex})  # redelivered: nothing changes
        assert status == 200 and seeded.get(f"feeds/{uid}") == feed
        status, _ = post(url, *created(late))  # out of order: older than the feed it finds
        assert status == 200 and seeded.get(f"feeds/{late}") == newer
