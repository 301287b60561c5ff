"""The HTTP process itself: health, restart persistence and the module entry point."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local.personalize import start_server
from infra.local.stack import personalize_command
from tests.integration.engine.conftest import INTERACTIONS_SCHEMA, free_port, unique

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_health(engine_env: Any) -> None:
    with urllib.request.urlopen(engine_env.engine.url + "/health", timeout=5) as resp:
        assert resp.status == 200


def test_state_survives_restart(tmp_path: Path, engine_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first = start_server("127.0.0.1", 0, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", first.url)
    name = unique("kept")
    arn = boto3.client("personalize").create_schema(name=name, schema=INTERACTIONS_SCHEMA)["schemaArn"]
    first.stop()
    second = start_server("127.0.0.1", 0, tmp_path)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", second.url)
        assert boto3.client("personalize").describe_schema(schemaArn=arn)["schema"]["name"] == name
    finally:
        second.stop()


def test_module_entry_point(tmp_path: Path) -> None:
    port = free_port()
    cmd = personalize_command(port, tmp_path)  # exactly what the local stack runs
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "engine did not become healthy"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_trained_campaign_serves_after_restart(tmp_path: Path, trained: Any, engine_env: Any) -> None:
    """A copy of the session's state directory, opened by a fresh engine, still recommends."""
    import shutil

    from infra.local.personalize.runtime import Runtime
    from infra.local.personalize.store import Store

    with engine_env.engine.engine.store.lock:
        shutil.copytree(engine_env.engine.engine.store.root, tmp_path / "copy")
    revived = Runtime(Store(tmp_path / "copy"))
    out = revived.get_recommendations({"campaignArn": trained.campaign_arn, "userId": "u1", "numResults": 5})
    assert len(out["itemList"]) == 5


def test_pending_import_resumes_after_restart(
    tmp_path: Path, engine_env: Any, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tests.integration.engine.conftest import make_interactions, new_group, put_csv, wait_for

    first = start_server("127.0.0.1", 0, tmp_path)
    gate = threading.Event()
    first.engine.worker.submit(gate.wait, 30)  # the job stays CREATE PENDING
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", first.url)
        personalize = boto3.client("personalize")
        _, interactions, _ = new_group(personalize)
        location = put_csv(s3, bucket, f"{unique('resume')}.csv", make_interactions(n_users=3, per_user=3))
        job = personalize.create_dataset_import_job(
            jobName=unique("resume"), datasetArn=interactions, dataSource={"dataLocation": location}
        )["datasetImportJobArn"]
    finally:
        first.stop()
        gate.set()
    second = start_server("127.0.0.1", 0, tmp_path)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", second.url)
        personalize = boto3.client("personalize")
        done = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])
        assert done["status"] == "ACTIVE"
    finally:
        second.stop()
