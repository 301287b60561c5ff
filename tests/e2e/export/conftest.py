"""Export e2e fixtures: firebase-tools running Firestore, Pub/Sub and Functions emulators over functions_gcp,
with the function's S3/SNS/CloudWatch on the session stack's moto and its GCS on the stack's emulator."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local.firebase import emulators
from infra.local.stack import free_port
from tests.conftest import StackHandle

ROWS_PER_RUN = 40  # small, so a 150-click day is fanned out as shards
TOPIC = "storyrec-export"  # the default: firebase-tools discovers triggers without our process env


@dataclass(frozen=True)
class ExportSuite:
    """The running suite: emulator hosts, the buckets the function writes to, and its log."""

    firestore_host: str
    pubsub_host: str
    import_bucket: str
    backup_bucket: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def _suite(
    work: Path, tools_env: Mapping[str, str], function_env: Mapping[str, str]
) -> Iterator[tuple[str, str, Path]]:
    firebase = tools_env.get("FIREBASE_TOOLS") or str(emulators.HERE / "node_modules" / ".bin" / "firebase")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("functions_gcp", "firestore.rules"):
        link = work / name
        if not link.exists():
            link.symlink_to(emulators.REPO_ROOT / name)
    fs, ps, fn = free_port(), free_port(), free_port()
    config = {
        "functions": [{"source": "functions_gcp", "codebase": "default", "runtime": "python311"}],
        "firestore": {"rules": "firestore.rules"},
        "emulators": {
            "singleProjectMode": True,
            "firestore": {"host": "127.0.0.1", "port": fs, "websocketPort": free_port()},
            "pubsub": {"host": "127.0.0.1", "port": ps},
            "functions": {"host": "127.0.0.1", "port": fn},
            "hub": {"host": "127.0.0.1", "port": free_port()},
            "logging": {"host": "127.0.0.1", "port": free_port()},
            "eventarc": {"host": "127.0.0.1", "port": free_port()},
            "ui": {"enabled": False},
        },
    }
    (work / "firebase.json").write_text(json.dumps(config, indent=2))
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        **tools_env,
        **function_env,
        "HOME": str(home),
        "JAVA_TOOL_OPTIONS": emulators.JAVA_HEAP,
        "CI": "true",
    }
    for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"):
        env.pop(key, None)
    log = work / "suite.log"
    cmd = [firebase, "emulators:start", "--only", "firestore,pubsub,functions", "--project", emulators.PROJECT]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def ready() -> bool:
        text = log.read_text(errors="replace")
        return "All emulators ready" in text and "export_daily" in text and "function initialized" in text

    try:
        emulators._wait(proc, ready, log, 180.0)
        yield f"127.0.0.1:{fs}", f"127.0.0.1:{ps}", log
    finally:
        emulators.stop_group(proc)


@pytest.fixture(scope="session")
def export_suite(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportSuite]:
    """The Functions emulator serving the real export function, subscribed to TOPIC."""
    from shared import wiring
    from shared.config import Settings

    import_bucket, backup_bucket = "e2e-export-import", "e2e-export-backup"
    settings = Settings.from_env(
        {**stack.env, "STORYREC_IMPORT_BUCKET": import_bucket, "STORYREC_BACKUP_BUCKET": backup_bucket}
    )
    wiring.aws_client("s3", settings).create_bucket(Bucket=import_bucket)
    wiring.storage_client(settings).create_bucket(backup_bucket)
    passthrough = {k: v for k, v in stack.env.items() if k.startswith("AWS_") or k == "STORAGE_EMULATOR_HOST"}
    function_env = {
        **passthrough,
        "STORYREC_IMPORT_BUCKET": import_bucket,
        "STORYREC_BACKUP_BUCKET": backup_bucket,
        "STORYREC_EXPORT_TOPIC": TOPIC,
        "STORYREC_EXPORT_ROWS_PER_RUN": str(ROWS_PER_RUN),
        "STORYREC_TIME_ZONE": "UTC",
    }
    try:
        tools_env = emulators.setup()
        emulators.bundle()
        with _suite(tmp_path_factory.mktemp("export-suite"), tools_env, function_env) as (fs, ps, log):
            yield ExportSuite(fs, ps, import_bucket, backup_bucket, log)
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)
