"""feeds/{uid} under firestore.rules, exercised by the Firebase JS SDK (tests/rules/feeds.test.mjs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.firebase import emulators

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def feeds_rules_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("node") is None or shutil.which("java") is None:
        pytest.fail("node and java are required for the rules tests", pytrace=False)
    if not (HERE / "node_modules" / "firebase").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=HERE,
            check=True,
            timeout=600,
            capture_output=True,
        )
    with emulators.firestore_with_rules(
        emulators.REPO_ROOT / "firestore.rules", tmp_path_factory.mktemp("feeds-rules")
    ) as host:
        yield host


def test_feeds_are_readable_by_their_owner_only_and_writable_by_no_client(feeds_rules_emulator: str) -> None:
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": feeds_rules_emulator, "GOOGLE_CLOUD_PROJECT": emulators.PROJECT}
    run = subprocess.run(["node", "feeds.test.mjs"], cwd=HERE, env=env, capture_output=True, text=True, timeout=120)
    print(run.stdout)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    passed = [line for line in run.stdout.splitlines() if line.startswith("ok ")]
    assert len(passed) == 16
