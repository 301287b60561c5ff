"""A client of the Firestore emulator's REST API, under the security rules, and the clicks it sends."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.demo.data import Click, DemoData
from infra.local.stack import LOCAL_PROJECT


def mock_user_token(uid: str, project: str = LOCAL_PROJECT, now: float | None = None) -> str:
    """An unsigned ID token for ``uid``, as the Firebase SDKs' ``mockUserToken`` builds it.

    The emulators accept it without a signature and evaluate the rules with ``request.auth.uid == uid``.
    """
    issued = int(now if now is not None else time.time())
    header = {"alg": "none", "type": "JWT"}
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "iat": issued,
        "exp": issued + 3600,
        "auth_time": issued,
        "sub": uid,
        "user_id": uid,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
    }

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(payload)}."


def firestore_value(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST ``Value``."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, datetime):
        return {"timestampValue": value.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [firestore_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"mapValue": {"fields": {str(k): firestore_value(v) for k, v in value.items()}}}
    raise TypeError(f"no Firestore value for {type(value).__name__}")


def commit_seconds(value: Any) -> float | None:
    """A REST ``commitTime`` (RFC 3339, ``Z``, up to nanoseconds) as epoch seconds; None if it is not one."""
    if not isinstance(value, str) or len(value) < 20:
        return None
    try:
        whole = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    fraction = value[19:].rstrip("Z")
    return whole + (float(fraction) if fraction.startswith(".") and fraction[1:].isdigit() else 0.0)


@dataclass(frozen=True)
class ClientWrite:
    """One document a client creates; ``server_time`` names fields the server sets to the request time."""

    path: str
    data: Mapping[str, Any]
    server_time: tuple[str, ...] = ()
    create_only: bool = True


class RulesClient:
    """Writes to the Firestore emulator as a signed-in app user would: every write passes the rules."""

    def __init__(self, host: str, project: str = LOCAL_PROJECT, timeout: float = 30.0) -> None:
        self._base = f"http://{host}/v1/projects/{project}/databases/(default)/documents"
        self._name = f"projects/{project}/databases/(default)/documents"
        self._timeout = timeout

    def commit(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str]:
        """Commit ``writes`` atomically as ``uid`` (None: signed out); (accepted, the error when refused)."""
        ok, why, _ = self.commit_timed(uid, writes)
        return ok, why

    def commit_timed(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str, float | None]:
        """:meth:`commit`, plus the commit's server time (epoch seconds; what ``request.time`` was), if accepted."""
        body = {"writes": [self._write(w) for w in writes]}
        headers = {"Content-Type": "application/json"}
        if uid is not None:
            headers["Authorization"] = f"Bearer {mock_user_token(uid)}"
        request = urllib.request.Request(
            f"{self._base}:commit", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # loopback emulator only
                return True, "", commit_seconds(json.loads(response.read() or b"{}").get("commitTime"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            if exc.code in (400, 403):  # PERMISSION_DENIED (rules) or a malformed write
                return False, detail, None
            raise

    def _write(self, write: ClientWrite) -> dict[str, Any]:
        out: dict[str, Any] = {
            "update": {
                "name": f"{self._name}/{write.path}",
                "fields": {k: firestore_value(v) for k, v in write.data.items()},
            }
        }
        if write.server_time:
            out["updateTransforms"] = [{"fieldPath": f, "setToServerValue": "REQUEST_TIME"} for f in write.server_time]
        if write.create_only:
            out["currentDocument"] = {"exists": False}
        return out


def click_write(click: Click, click_id: str, now: datetime, **overrides: Any) -> ClientWrite:
    """A click document as the app's client sends it: ``createdAt`` is the server's time (the rules insist)."""
    data: dict[str, Any] = {
        "userId": click.user,
        "storyId": click.story,
        "type": click.type,
        "clientTime": now,
        "sessionId": click.session,
    }
    if click.device:
        data["device"] = click.device
    if click.value is not None:
        data["value"] = click.value
    server_time: tuple[str, ...] = ("createdAt",)
    if "createdAt" in overrides:
        server_time = ()
    data.update(overrides)
    return ClientWrite(f"clicks/{click_id}", {k: v for k, v in data.items() if v is not None}, server_time)


def hostile_clicks(data: DemoData, now: datetime) -> tuple[list[tuple[str | None, ClientWrite]], list[Click]]:
    """(writes the rules must refuse, clicks the rules let through that capture must quarantine)."""
    user, other = sorted(data.profiles)[:2]
    story = sorted(data.stories)[0]
    base = Click(user, story, "read", 0, "hostile-session", "web")
    refused: list[tuple[str | None, ClientWrite]] = [
        (None, click_write(base, "hostile-signed-out", now)),
        (other, click_write(base, "hostile-impersonation", now)),
        (user, click_write(base, "hostile-type", now, type="teleport")),
        (user, click_write(base, "hostile-csv", now, storyId='s1,"=HYPERLINK(1)"\n')),
        (user, click_write(base, "hostile-backdated", now, createdAt=now - timedelta(days=30))),
        (user, click_write(base, "hostile-extra-field", now, admin=True)),
    ]
    quarantined = [
        Click(user, "story-that-never-existed", "open", 0, "hostile-session", "web"),
        Click(other, "story-deleted-before-it-was-read", "read", 0, "hostile-session", "web", 30.0),
    ]
    return refused, quarantined
