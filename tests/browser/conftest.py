"""The reference homepage in a real browser: Playwright driving Debian's Chromium against firebase-tools'
Hosting, Auth, Firestore (firestore.rules) and Functions (the real functions_gcp) emulators.

Playwright's own browser builds cannot be downloaded on these machines: the tests launch the system's
``chromium`` (``.ci/run`` installs it from Debian when it is missing). Screenshots go to
``.storyrec/browser-artifacts/`` (``STORYREC_BROWSER_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.local.firebase import emulators

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("STORYREC_BROWSER_ARTIFACTS", REPO_ROOT / ".storyrec" / "browser-artifacts"))
PASSWORD = "storyrec-reader"
STORY_SITE = "https://news.example/"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """Debian's Chromium (``STORYREC_CHROMIUM`` overrides), or None."""
    explicit = os.environ.get("STORYREC_CHROMIUM")
    if explicit:
        return explicit
    return next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)


@pytest.fixture(scope="package")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode: the AWS services the functions reach on the way (CloudWatch metrics)."""
    from moto.server import ThreadedMotoServer

    from infra.local.processes import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="package")
def suite(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[emulators.Suite]:
    """Hosting + Auth + Firestore + Functions, the capture and refresh functions loaded."""
    aws = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        tools_env = {**emulators.setup(), **aws}
        emulators.bundle()
        with emulators.firebase_suite(
            tmp_path_factory.mktemp("browser-suite"), tools_env, 3, 240.0, auth=True, hosting=True
        ) as running:
            running.wait_for_function("capture_click", "firestore")
            running.wait_for_function("refresh_feed", "http")
            yield running
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="package")
def admin(suite: emulators.Suite) -> Any:
    """A Firestore client with the rules bypassed (what the backend and the recommend functions are)."""
    return emulators.admin_firestore(suite.firestore_host)


def _request(url: str, body: dict[str, Any] | None = None, method: str = "POST") -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": "Bearer owner"}
    with urllib.request.urlopen(
        urllib.request.Request(url, data, headers, method=method), timeout=30
    ) as resp:  # loopback
        return dict(json.loads(resp.read() or b"{}"))


@dataclass
class World:
    """The emulators' state for one test: stories, feeds and readers, reset before each test."""

    suite: emulators.Suite
    admin: Any
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def reset(self) -> None:
        base = (
            f"http://{self.suite.firestore_host}/emulator/v1/projects/{emulators.PROJECT}/databases/(default)/documents"
        )
        _request(base, method="DELETE")
        _request(f"http://{self.suite.auth_host}/emulator/v1/projects/{emulators.PROJECT}/accounts", method="DELETE")

    def reader(self, uid: str) -> str:
        """An Auth emulator account with the uid ``uid``; returns its email (the password is PASSWORD)."""
        email = f"{uid}@readers.storyrec.test"
        url = f"http://{self.suite.auth_host}/identitytoolkit.googleapis.com/v1/projects/{emulators.PROJECT}/accounts"
        made = _request(url, {"localId": uid, "email": email, "password": PASSWORD})
        assert made.get("localId") == uid, made
        return email

    def stories(self, count: int, prefix: str = "s") -> list[str]:
        """``count`` published stories, the first the newest."""
        ids = [f"{prefix}{i:03d}" for i in range(count)]
        batch = self.admin.batch()
        for i, sid in enumerate(ids):
            batch.set(
                self.admin.document(f"stories/{sid}"),
                {
                    "title": f"Story {sid}: what happened next",
                    "url": f"{STORY_SITE}{sid}",
                    "source": "example",
                    "status": "published",
                    "publishedAt": self.now - timedelta(minutes=i),
                },
            )
        batch.commit()
        return ids

    def feed(self, uid: str, story_ids: list[str], **fields: Any) -> dict[str, Any]:
        """``feeds/{uid}`` as the recommend function writes it (docs/client.md), ``fields`` overriding."""
        items = [
            {
                "storyId": s,
                "score": round(1 - i / 100, 3),
                "title": f"For {uid}: story {s}",
                "url": f"{STORY_SITE}{s}",
                "image": None,
                "source": "example",
            }
            for i, s in enumerate(story_ids)
        ]
        doc = {
            "itemsJson": json.dumps(items),
            "kind": "personalized",
            "arm": "champion",
            "experimentId": "exp-1",
            "recommendationId": f"rec-{uid}-1",
            "attributionSource": None,
            "generatedAt": self.now,
            "runId": "browser-test",
            "solutionVersionArn": None,
            "stale": False,
            "staleReason": None,
            **fields,
        }
        self.admin.document(f"feeds/{uid}").set(doc)
        return doc

    def docs(self, collection: str, **where: Any) -> list[dict[str, Any]]:
        query = self.admin.collection(collection)
        for key, value in where.items():
            query = query.where(filter=FieldFilter(key, "==", value))
        return [{"id": d.id, **d.to_dict()} for d in query.stream()]


@pytest.fixture
def world(suite: emulators.Suite, admin: Any) -> World:
    state = World(suite, admin)
    state.reset()
    return state


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (headless)."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (.ci/run installs it from Debian)", pytrace=False)
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Reader:
    """One reader's browser context and homepage, signed in."""

    uid: str
    context: Any
    page: Any
    outside: list[str]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)


def loopback(url: str) -> bool:
    return url.split("/")[2].split(":")[0] in ("127.0.0.1", "localhost") if "://" in url else True


@pytest.fixture
def open_homepage(browser: Any, world: World) -> Iterator[Callable[..., Reader]]:
    """Opens the homepage in a fresh browser context and signs ``uid`` in through the page's form.

    Requests that would leave the machine (a CDN, Google's APIs) are aborted and recorded in ``outside``; the
    stories' own links (``https://news.example/…``, opened in a new tab by a click) are left out of it.
    """
    contexts: list[Any] = []

    def open_as(uid: str, viewport: dict[str, int] | None = None) -> Reader:
        email = world.reader(uid)
        context = browser.new_context(viewport=viewport or {"width": 1100, "height": 900})
        contexts.append(context)
        outside: list[str] = []

        # Only what leaves the machine is routed: intercepting every request (loopback included) left the
        # Firestore SDK unable to reconnect after set_offline(False) (Playwright 1.65, Chromium 156).
        def leaving(route: Any) -> None:
            if not route.request.url.startswith(STORY_SITE):
                outside.append(route.request.url)
            route.abort()

        context.route("https://**", leaving)
        context.on(
            "request", lambda r: None if loopback(r.url) or r.url.startswith("https:") else outside.append(r.url)
        )
        page = context.new_page()
        page.on("console", lambda msg: print(f"[{uid} console] {msg.type}: {msg.text}"))
        page.goto(f"{world.suite.hosting_url}/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector(f"body[data-uid='{uid}']", timeout=30_000)
        return Reader(uid, context, page, outside)

    yield open_as
    for context in contexts:
        context.close()
