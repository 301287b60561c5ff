"""``storyrec-dev stack up|env``: hints that repeat --state-dir, and env refusing a stack that is not running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import infra.local.cli
from infra.local.cli import app

pytestmark = pytest.mark.unit


def test_env_for_a_stack_that_is_not_running_exits_1_with_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stack", "env", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and result.stdout == ""  # eval "$(...)" gets nothing to run
    line = result.stderr.strip()
    fix = f"start it with `storyrec-dev stack up --state-dir {tmp_path}`"
    assert line == f"no local stack is running in {tmp_path}: {fix}"


def test_up_hint_repeats_the_state_dir_and_the_buckets_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, str]] = []
    env = {"STORYREC_GCP_PROJECT": "demo-storyrec", "AWS_ENDPOINT_URL_S3": "http://s3", "STORAGE_EMULATOR_HOST": "x"}
    monkeypatch.setattr(infra.local.cli.LocalStack, "up", lambda self, services, log: env)

    def provision(got: Any, import_bucket: str, backup_bucket: str) -> list[str]:
        made.append((import_bucket, backup_bucket))
        return [f"import bucket s3://{import_bucket}: created"]

    monkeypatch.setattr(infra.local.cli, "provision_buckets", provision)
    monkeypatch.setenv("STORYREC_IMPORT_BUCKET", "my-import")
    monkeypatch.delenv("STORYREC_STACK_DIR", raising=False)
    result = CliRunner().invoke(app, ["stack", "up", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert made == [("my-import", "storyrec-backup")]
    assert f'eval "$(storyrec-dev stack env --state-dir {tmp_path})"' in result.stderr
    assert "export AWS_ENDPOINT_URL_S3=http://s3" in result.stdout
    default = CliRunner().invoke(app, ["stack", "up"])
    assert 'eval "$(storyrec-dev stack env)"' in default.stderr
