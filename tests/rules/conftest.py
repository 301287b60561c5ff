"""One Firestore emulator running firestore.rules, and the Firebase JS SDK scripts that exercise it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.firebase import emulators

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")  # one emulator per script file: their seeded documents never meet
def rules_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The official emulator started with ``--rules firestore.rules``; the SDK's npm packages installed."""
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
        emulators.REPO_ROOT / "firestore.rules", tmp_path_factory.mktemp("rules")
    ) as host:
        yield host


def run_rules_script(script: str, host: str) -> list[str]:
    """Run one JS SDK script against the emulator; assert it exited 0; return its ``ok`` lines."""
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": host, "GOOGLE_CLOUD_PROJECT": emulators.PROJECT}
    run = subprocess.run(["node", script], cwd=HERE, env=env, capture_output=True, text=True, timeout=120)
    print(run.stdout)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    return [line for line in run.stdout.splitlines() if line.startswith("ok ")]
