"""What the Lambda handlers import: no pandas, no Google libraries, no dev tooling (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
HANDLERS = ("functions_aws.import_manifest", "functions_aws.train", "functions_aws.monitor")
FORBIDDEN = (
    "pandas",
    "numpy",
    "google.cloud.firestore",
    "google.cloud.storage",
    "firebase_admin",
    "infra",
    "moto",
    "tests",
    "typer",
    "rich",
    "shared.export",
    "shared.capture",
    "shared.cli",
)


def _imported(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_nothing_the_lambda_package_lacks(handler: str) -> None:
    baseline = _imported("pass")
    loaded = _imported(f"import {handler}; {handler}.handler") - baseline
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == [], bad
    assert "boto3" not in loaded  # clients are built per invocation, so boto3 loads on first use, not at import
