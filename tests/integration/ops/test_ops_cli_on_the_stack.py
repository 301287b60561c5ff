"""The operators' default paths: `storyrec report` and `storyrec publish-dataset` reading the GCS backup
bucket (fake-gcs-server) and Firestore (the official emulator), as they would in production."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.stack import LocalStack, StackError
from shared import wiring
from shared.cli import app
from shared.config import Settings
from tests.unit.ops.test_publish import KEY, exported

pytestmark = pytest.mark.integration
PROJECT = "demo-ops-cli"


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    local = LocalStack(tmp_path_factory.mktemp("ops-stack"))
    try:
        env = local.up(("firestore", "gcs"))
    except StackError as exc:
        pytest.fail(f"local stack failed to start: {exc}", pytrace=False)
    try:
        yield env
    finally:
        local.down()


def test_report_and_release_read_the_backup_bucket(
    stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "FIRESTORE_EMULATOR_HOST": stack_env["FIRESTORE_EMULATOR_HOST"],
        "STORAGE_EMULATOR_HOST": stack_env["STORAGE_EMULATOR_HOST"],
        "STORYREC_GCP_PROJECT": PROJECT,
        "STORYREC_BACKUP_BUCKET": "ops-backup",
        "STORYREC_PUBLISH_KEY": KEY.decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # "no AWS" whatever ran before: the session stack (started by an earlier test) exports moto's and the
    # engine's endpoints, so the report would read them; AWS on a closed port is unreadable, every time
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings = Settings.from_env(os.environ)
    wiring.storage_client(settings).create_bucket(settings.backup_bucket)
    bucket = wiring.backup_store(settings)
    data = exported()
    for key, blob in data.backup.objects.items():
        bucket.put_bytes(key, blob, content_type="text/csv")

    runner = CliRunner()
    page = tmp_path / "report.html"
    shown = runner.invoke(app, ["report", "--out", str(page)])
    assert shown.exit_code == 0, shown.output
    text = page.read_text(encoding="utf-8")
    # no Firestore data, no AWS: interactions, quarantine, versions, tests, imports, alerts are empty panels
    assert 'data-plot="export-rows"' in text and text.count('data-empty="true"') == 6
    assert 'data-plot="feeds"' in text and "solution versions unreadable" in text  # feeds/* read (empty); no AWS
    assert "import jobs unreadable" in text and "alerts unreadable" in text

    release = tmp_path / "release"
    published = runner.invoke(app, ["publish-dataset", str(release), "--min-users", "100"])
    assert published.exit_code == 0, published.output
    blob = (release / "interactions.csv").read_bytes()
    # the release's privacy defaults cap and suppress rows (docs/release.md): thousands of the ~16k remain
    assert len(blob.splitlines()) > 2_000
    assert json.loads((release / "release.json").read_text())["risk"]
    assert not any(uid.encode() in blob for uid in data.uids)
    assert re.search(rb"^[0-9a-f]{32},", blob.splitlines()[1])
