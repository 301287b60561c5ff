"""Capture e2e fixtures: the Firebase emulator suite running functions_gcp through real trigger wiring."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.firebase import emulators


# package scope: the suite stops before the next package starts its own (two firebase-tools suites at
# once met on the Python functions' admin port 8081 in a CI run: "Port 8081 is in use by another program")
@pytest.fixture(scope="package")
def firebase_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulators.Suite]:
    """Set up (idempotent), bundle shared/ into functions_gcp, start Firestore + Functions emulators."""
    try:
        tools_env = emulators.setup()
        emulators.bundle()
        with emulators.firebase_suite(tmp_path_factory.mktemp("firebase"), tools_env, functions=3) as suite:
            yield suite
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)


@pytest.fixture
def suite_client(firebase_suite: emulators.Suite) -> Any:
    """A Firestore client on the suite's emulator, with the database emptied first."""
    url = (
        f"http://{firebase_suite.firestore_host}/emulator/v1/projects/{emulators.PROJECT}"
        "/databases/(default)/documents"
    )
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30):  # loopback
        pass
    return emulators.admin_firestore(firebase_suite.firestore_host)
