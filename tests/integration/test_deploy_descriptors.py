"""The deploy descriptors are valid: serverless 3 packages offline and cfn-lint passes the template."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOY_TOOLS = REPO / "infra" / "deploy"


@pytest.fixture(scope="module")
def serverless_bin() -> Path:
    binary = DEPLOY_TOOLS / "node_modules" / ".bin" / "serverless"
    if not binary.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install serverless 3 (infra/deploy/package.json)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEPLOY_TOOLS,
                       check=True, timeout=600)
    return binary


def test_serverless_packages_a_template_cfn_lint_accepts(serverless_bin: Path, tmp_path: Path) -> None:
    env = {
        **os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off", "HOME": str(tmp_path),
    }
    out = tmp_path / "package"
    result = subprocess.run(
        [str(serverless_bin), "package", "--stage", "ci", "--package", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = out / "cloudformation-template-update-stack.json"
    resources = json.loads(template.read_text())["Resources"]
    assert {"ImportBucket", "ImportBucketPolicy", "AlertsTopic", "PersonalizeRole"} <= set(resources)
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(template)],
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_firebase_json_deploys_the_python_functions_folder() -> None:
    config = json.loads((REPO / "firebase.json").read_text())
    [functions] = config["functions"]
    assert functions["source"] == "functions_gcp" and functions["runtime"] == "python311"
    assert (REPO / config["firestore"]["rules"]).exists()
    assert (REPO / "functions_gcp" / "requirements.txt").exists()
    assert "bundle" in " ".join(functions["predeploy"])
