"""Run the Firestore emulator with security rules, or the whole Firebase emulator suite, for tests.

Both run through the stack's process manager (:mod:`infra.local.processes`): each is the leader of its
own process group, stopped by that group only while it is provably the one started, so no java or
Python child outlives them and no stranger is ever signalled. The suite runs from a scratch project
directory holding a generated ``firebase.json`` with free ports and symlinks to the repo's
``functions_gcp`` and ``firestore.rules`` (firebase-tools resolves paths against the config's
directory), so several runs can share a machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local import processes
from infra.local.firebase import site
from infra.local.processes import free_port
from infra.local.stack import GCLOUD_PLATFORM, LOCAL_PROJECT

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
FIRESTORE_JAR = GCLOUD_PLATFORM / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
PROJECT = LOCAL_PROJECT
JAVA_HEAP = "-Xmx768m"


SETUP_TIMEOUT = 900.0
"""Seconds setup.sh may take (a first run installs firebase-tools and the functions' venv)."""


class EmulatorError(RuntimeError):
    """An emulator did not start or its setup is missing."""


def setup(log: Callable[[str], None] | None = None) -> dict[str, str]:
    """Run the idempotent setup script; return the variables it prints (``export NAME=value`` lines).

    ``log`` gets one line per step of the script (its ``== step`` headers) with the step's elapsed time, so
    a first run's installs (firebase-tools from npm: minutes) are not silent.
    """
    proc = subprocess.Popen(
        [str(HERE / "setup.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    err: list[str] = []
    step: tuple[str, float] | None = None

    def close_step() -> None:
        if step is not None and log is not None:
            log(f"setup: {step[0]} ready ({time.monotonic() - step[1]:.1f} s)")

    assert proc.stderr is not None and proc.stdout is not None
    timer = threading.Timer(SETUP_TIMEOUT, proc.kill)  # a stuck install (no output at all) ends too
    timer.start()
    try:
        for line in proc.stderr:
            err.append(line)
            if line.startswith("== "):
                close_step()
                step = (line[3:].strip(), time.monotonic())
                if log is not None:
                    log(f"setup: {step[0]} ...")
        out = proc.stdout.read()
        code = proc.wait()
    finally:
        timer.cancel()
    if code != 0:
        raise EmulatorError(f"setup.sh failed ({code}):\n{''.join(err)[-3000:]}")
    close_step()
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def bundle() -> None:
    """Copy shared/ into functions_gcp/ (what the deploy and the functions emulator load)."""
    subprocess.run([str(HERE / "bundle.sh")], check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def _running(
    cmd: list[str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[None]:
    """Start ``cmd`` under the process manager, wait until ``ready()``, stop its whole group on exit."""
    try:
        started = processes.start(cmd, log=log, env=env, cwd=cwd, append=False)
        proof = processes.wait_ready(started, ready, timeout, "emulator")
    except processes.ProcessError as exc:
        raise EmulatorError(str(exc)) from exc
    try:
        yield
    finally:
        processes.stop(proof, grace=15.0)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # loopback only
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def firestore_with_rules(rules: Path, log_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """The official Firestore emulator evaluating ``rules``; yields its ``host:port``."""
    if not FIRESTORE_JAR.exists():
        raise EmulatorError(f"{FIRESTORE_JAR} not found (google-cloud-cli-firestore-emulator)")
    port = free_port()
    log = log_dir / "firestore-rules.log"
    cmd = [
        "java",
        JAVA_HEAP,
        "-Duser.language=en",
        "-cp",
        str(FIRESTORE_JAR),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start",
        "--host=127.0.0.1",
        f"--port={port}",
        "--rules",
        str(rules),
    ]
    with _running(cmd, log, lambda: _answers(f"http://127.0.0.1:{port}/"), timeout):
        yield f"127.0.0.1:{port}"


@dataclass(frozen=True)
class Suite:
    """A running emulator suite: the Firestore (Pub/Sub, Auth) host, the env a client needs, the suite's log."""

    firestore_host: str
    functions_port: int
    log: Path
    pubsub_host: str | None = None
    auth_host: str | None = None
    hub_port: int | None = None
    hosting_url: str | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {"FIRESTORE_EMULATOR_HOST": self.firestore_host, "GOOGLE_CLOUD_PROJECT": PROJECT}
        if self.pubsub_host:
            env["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        if self.auth_host:
            env["FIREBASE_AUTH_EMULATOR_HOST"] = self.auth_host
        return env

    def background_triggers(self, enabled: bool) -> None:
        """Switch the Functions emulator's event triggers on or off (off while a test seeds data)."""
        action = "enable" if enabled else "disable"
        url = f"http://127.0.0.1:{self.hub_port}/functions/{action}BackgroundTriggers"
        with urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=30):  # loopback only
            pass

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_function(self, name: str, kind: str, timeout: float = 120.0) -> None:
        """Block until the Functions emulator says ``name`` (a ``kind`` function: http, pubsub…) is initialized."""
        from shared.retry import wait_until

        line = f"{name}]: {kind} function initialized"
        wait_until(self.output, lambda text: line in text, timeout=timeout, interval=0.5, what=f"the {name} function")


OPTIONAL = ("pubsub", "auth", "hosting")
"""Emulators a suite may add to Firestore and Functions."""


def _suite_config(
    pubsub: bool = False, auth: bool = False, hosting: bool = False
) -> tuple[dict[str, object], dict[str, int]]:
    ports = {"firestore": free_port(), "functions": free_port(), "hub": free_port()}
    ports.update({"pubsub": free_port()} if pubsub else {})
    ports.update({"auth": free_port()} if auth else {})
    ports.update({"hosting": free_port()} if hosting else {})
    emulators: dict[str, object] = {
        "singleProjectMode": True,
        "firestore": {"host": "127.0.0.1", "port": ports["firestore"], "websocketPort": free_port()},
        "functions": {"host": "127.0.0.1", "port": ports["functions"]},
        "hub": {"host": "127.0.0.1", "port": ports["hub"]},
        "logging": {"host": "127.0.0.1", "port": free_port()},
        "eventarc": {"host": "127.0.0.1", "port": free_port()},
        "ui": {"enabled": False},
    }
    for optional in OPTIONAL:
        if optional in ports:
            emulators[optional] = {"host": "127.0.0.1", "port": ports[optional]}
    config: dict[str, object] = {
        "functions": [{"source": "functions_gcp", "codebase": "default", "runtime": "python311"}],
        "firestore": {"rules": "firestore.rules"},
        "emulators": emulators,
    }
    if hosting:
        config["hosting"] = {"public": "public"}
    return config, ports


@contextlib.contextmanager
def firebase_suite(
    work: Path,
    tools_env: Mapping[str, str],
    functions: int,
    timeout: float = 120.0,
    *,
    pubsub: bool = False,
    auth: bool = False,
    hosting: bool = False,
) -> Iterator[Suite]:
    """firebase-tools running the Firestore and Functions emulators over the bundled functions_gcp.

    ``functions`` is how many functions must report "initialized" before the suite counts as ready.
    ``pubsub`` adds the Pub/Sub emulator, whose messages the Functions emulator delivers to
    ``on_message_published`` functions. ``auth`` adds the Auth emulator: clients sign in there, and the
    functions then verify its (unsigned) ID tokens, as firebase-admin does when FIREBASE_AUTH_EMULATOR_HOST is set.
    ``hosting`` adds the Hosting emulator serving the reference homepage (:mod:`infra.local.firebase.site`),
    configured to reach this suite's emulators.
    """
    firebase = tools_env.get("FIREBASE_TOOLS") or str(HERE / "node_modules" / ".bin" / "firebase")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("functions_gcp", "firestore.rules"):
        link = work / name
        if not link.exists():
            link.symlink_to(REPO_ROOT / name)
    config, ports = _suite_config(pubsub, auth, hosting)
    (work / "firebase.json").write_text(json.dumps(config, indent=2))
    if hosting:
        try:
            site.build(work / "public", site.local_config({k: f"127.0.0.1:{v}" for k, v in ports.items()}))
        except OSError as exc:
            raise EmulatorError(f"the homepage could not be built: {exc}") from exc
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, **tools_env, "HOME": str(home), "JAVA_TOOL_OPTIONS": JAVA_HEAP, "CI": "true"}
    for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"):
        env.pop(key, None)
    log = work / "suite.log"
    only = ",".join(["firestore", "functions"] + [name for name in OPTIONAL if name in ports])
    cmd = [firebase, "emulators:start", "--only", only, "--project", PROJECT]

    def ready() -> bool:
        text = log.read_text(errors="replace")
        return "All emulators ready" in text and text.count("function initialized") >= functions

    with _running(cmd, log, ready, timeout, env=env, cwd=work):
        yield Suite(
            f"127.0.0.1:{ports['firestore']}",
            ports["functions"],
            log,
            f"127.0.0.1:{ports['pubsub']}" if pubsub else None,
            f"127.0.0.1:{ports['auth']}" if auth else None,
            ports["hub"],
            f"http://127.0.0.1:{ports['hosting']}" if hosting else None,
        )


def admin_firestore(firestore_host: str) -> Any:
    """A Firestore client on the emulator at ``firestore_host`` with the rules bypassed (what the functions are)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from infra.local.environ import environment

    with environment({"FIRESTORE_EMULATOR_HOST": firestore_host}):  # the client reads it when it is made
        return firestore.Client(project=PROJECT, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
