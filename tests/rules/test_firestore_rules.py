"""firestore.rules in the official emulator (started with --rules), exercised by the Firebase JS SDK."""

from __future__ import annotations

import json
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
def rules_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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


def test_rules_allow_and_deny_cases(rules_emulator: str) -> None:
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": rules_emulator, "GOOGLE_CLOUD_PROJECT": emulators.PROJECT}
    run = subprocess.run(["node", "rules.test.mjs"], cwd=HERE, env=env, capture_output=True, text=True, timeout=120)
    print(run.stdout)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    passed = [line for line in run.stdout.splitlines() if line.startswith("ok ")]
    corpus = json.loads((HERE.parent / "corpus" / "rules_cases.json").read_text(encoding="utf-8"))["cases"]
    assert len([line for line in passed if " corpus: " in line]) == len(corpus)
    assert len(passed) >= 15 + len(corpus)
