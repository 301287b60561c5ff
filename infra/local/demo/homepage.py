"""The reference homepage at the end of the demo: an Auth emulator account for the showcase reader, its address."""

from __future__ import annotations

import json
import time
import urllib.request

from infra.local.demo.context import DemoContext
from infra.local.firebase.emulators import PROJECT, Suite

PASSWORD = "storyrec-demo"


def reader_account(auth_host: str, uid: str, email: str, password: str = PASSWORD) -> None:
    """An Auth emulator account whose uid is the demo reader's (so the page shows their feed and records as them)."""
    url = f"http://{auth_host}/identitytoolkit.googleapis.com/v1/projects/{PROJECT}/accounts"
    body = json.dumps({"localId": uid, "email": email, "password": password}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer owner"}  # the emulator's admin token
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30):  # loopback only
        pass


def show_homepage(ctx: DemoContext, suite: Suite, *, serve: bool) -> None:
    """Print the homepage's address and the reader to sign in as; with ``serve``, keep it up until Ctrl-C."""
    reader = (ctx.facts.get("showcase") or {}).get("user")
    if not suite.hosting_url or not suite.auth_host or reader is None:
        return
    email = "reader@storyrec.test"
    reader_account(suite.auth_host, str(reader), email)
    ctx.facts["homepage"] = {"url": suite.hosting_url, "email": email, "password": PASSWORD, "uid": reader}
    ctx.console.print(
        f"homepage: {suite.hosting_url}/ — sign in as {email} / {PASSWORD} (reader {reader}); "
        + ("it stays up until Ctrl-C" if serve else "run `storyrec-dev demo --keep` to keep it up after the demo"),
        markup=False,
    )
    if serve:
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
