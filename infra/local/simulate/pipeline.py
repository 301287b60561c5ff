"""The product's scheduled stages on one simulated night, through the handlers and use cases that deploy.

* export: ``shared.export.trigger.handle_message`` on the daily tick's Pub/Sub payload (an empty body,
  published at the schedule's time), exactly what ``functions_gcp/export.py`` calls; a raised error is
  redelivered as Pub/Sub would (same message, later);
* import: the manifest's S3 ObjectCreated event into ``functions_aws.import_manifest.handler``;
* monitor: ``functions_aws.monitor.handler`` on its EventBridge schedule (every 15 virtual minutes while
  the engine works);
* training: ``functions_aws.train.handler`` on the monthly schedule (03:00 on the 1st);
* feeds: ``shared.recommend.fill_feeds`` with the run id of the 05:00 schedule, as ``fill_feeds_daily``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from infra.local.environ import environment
from infra.local.lambda_events import LambdaContext, s3_object_created, scheduled_event
from infra.local.simulate.clock import VirtualClock
from shared import wiring
from shared.config import Settings
from shared.manifest import manifest_key, parse_manifest

MONITOR_EVERY = timedelta(minutes=15)


def settings() -> Settings:
    """Read per invocation, as the handlers do (a fault may have moved an endpoint)."""
    return Settings.from_env(os.environ)


DOWN_TIMEOUTS = {
    "FIRESTORE_EMULATOR_HOST": "STORYREC_TIMEOUT_FIRESTORE",
    "STORAGE_EMULATOR_HOST": "STORYREC_TIMEOUT_GCS",
}
"""While a Google service is down its client retries a refused connection until the product's timeout (20 s for
Firestore, 60 s for GCS, real seconds the virtual clock cannot skip): a down stage sets it to ``DOWN_TIMEOUT``,
the same error sooner."""
DOWN_TIMEOUT = "1"


@contextlib.contextmanager
def endpoint_down(variables: tuple[str, ...], closed_port: int) -> Iterator[None]:
    """Point ``variables`` at a closed loopback port for the block: the service is down for that stage."""
    down = {
        key: f"127.0.0.1:{closed_port}" if key == "FIRESTORE_EMULATOR_HOST" else f"http://127.0.0.1:{closed_port}"
        for key in variables
    }
    down.update({DOWN_TIMEOUTS[key]: DOWN_TIMEOUT for key in variables if key in DOWN_TIMEOUTS})
    with environment(down):
        yield


@contextlib.contextmanager
def reused_aws_clients() -> Iterator[None]:
    """For the block, ``shared.wiring.aws_client`` hands out one boto3 client per service, settings and
    endpoint set instead of a new one per call. The calls are the same; building a client costs ~60 ms of
    CPU and the handlers and checks built ~36 a simulated day (a fault's closed port is another endpoint
    set: its own client)."""
    from shared import wiring

    real = wiring.aws_client
    made: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def aws_client(service: str, settings: Settings) -> Any:
        endpoints = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
        key = (service, settings.region, settings.timeouts, settings.aws_stage, endpoints)
        with lock:
            if key not in made:
                made[key] = real(service, settings)
            return made[key]

    wiring.aws_client = aws_client  # type: ignore[assignment]
    try:
        yield
    finally:
        wiring.aws_client = real  # type: ignore[assignment]


def sns_caused(exc: BaseException | None) -> bool:
    """True if ``exc`` (or what it was raised from or during) is the SNS adapter's "SNS unreachable"."""
    seen = 0
    while exc is not None and seen < 10:
        if "SNS unreachable" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _lambda(name: str) -> Any:
    import importlib

    return importlib.import_module(f"functions_aws.{name}")


_in_lambda = threading.local()


class LambdaStdout:
    """``sys.stdout`` for a run: a thread inside a Lambda handler writes to the Lambda log, any other thread to
    the real stdout. (``contextlib.redirect_stdout`` per invocation is process-wide: two overlapping monitor
    passes restored each other's stdout, and the run ended with ``sys.stdout`` on the closed log.)"""

    def __init__(self, real: Any, log: Any) -> None:
        self.real, self.log = real, log

    def _target(self) -> Any:
        return self.log if getattr(_in_lambda, "on", False) else self.real

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def invoke(
    log: io.TextIOBase | Any, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any], name: str
) -> Any:
    """Call a Lambda handler through its decorators; its EMF lines go to ``log`` (through ``LambdaStdout``
    when the run installed it, else by redirecting stdout for the call)."""
    routed = isinstance(sys.stdout, LambdaStdout) and sys.stdout.log is log
    with contextlib.nullcontext() if routed else contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics to publish")
        _in_lambda.on = True
        try:
            return handler(event, LambdaContext(name))
        finally:
            _in_lambda.on = False


class Night:
    """The stages of one night, on the virtual clock; ``log`` takes the Lambdas' EMF output."""

    def __init__(self, clock: VirtualClock, log: Any) -> None:
        self.clock = clock
        self.log = log
        self._feed_deps: tuple[tuple[tuple[str, str], ...], Any] | None = None
        self.sns_down: int | None = None
        """``sns_down_aws``: a closed port SNS points at for the AWS stage's Lambdas until one of them raises."""
        self.sns_raised: list[str] = []
        """What each Lambda invocation that raised with SNS down was (then SNS is back)."""

    def _aws(self, name: str, call: Callable[[], Any], retry: Callable[[], Any]) -> Any:
        """Run a Lambda invocation; with ``sns_down`` set, SNS is on a closed port for it. When it raises there
        (an alert could not be sent: ``alert_once`` removed its marker), SNS is back and ``retry`` is what the
        platform does next (the monitor's next scheduled pass; the async invocation's retry)."""
        if self.sns_down is None:
            return call()
        with endpoint_down(("AWS_ENDPOINT_URL_SNS",), self.sns_down):
            try:
                return call()
            except Exception as exc:
                if not sns_caused(exc):  # another fault of the night (the engine down): not this one's to absorb
                    raise
                self.sns_down = None
                self.sns_raised.append(f"{name}: raised {type(exc).__name__}: {str(exc)[:120]}")
        return retry()

    def export(self, publish_time: datetime) -> str:
        """The daily tick on the export topic; an error is redelivered (same message) 10 minutes later, twice."""
        from shared.export.trigger import handle_message
        from shared.export.wiring import connect

        if self.clock() < publish_time:
            self.clock.set(publish_time)
        data = base64.b64encode(b"").decode()
        last: Exception | None = None
        for _ in range(3):
            try:
                return str(handle_message(data, publish_time, settings(), connect, wiring.utc_now()).value)
            except Exception as exc:  # what Pub/Sub's retry policy would redeliver
                last = exc
                self.clock.advance(timedelta(minutes=10))
        raise RuntimeError(f"the export failed on every delivery: {last}")

    def manifest(self, day: date) -> tuple[str, dict[str, Any] | None]:
        s = settings()
        key = manifest_key(s.import_prefix, day)
        try:
            raw = wiring.import_store(s).get_bytes(key)
        except Exception:
            return key, None
        manifest = parse_manifest(raw)
        return key, {"manifest": manifest, "bytes": len(raw)}

    def s3_event(self, key: str, size: int) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            s = settings()
            event = s3_object_created(s.import_bucket, key, size)
            return invoke(self.log, _lambda("import_manifest").handler, event, "storyrec-import")  # type: ignore[no-any-return]

        return self._aws("import", call, call)  # type: ignore[no-any-return]

    def monitor(self) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            event = scheduled_event("storyrec-monitor", self.clock())
            return invoke(self.log, _lambda("monitor").handler, event, "storyrec-monitor")  # type: ignore[no-any-return]

        def next_pass() -> dict[str, Any]:
            # the schedule's next pass (15 virtual minutes later in production; 1 here, so that no stage's time is
            # overrun: alerts are keyed, not timed)
            self.clock.advance(timedelta(minutes=1))
            return {**call(), "after_a_pass_that_raised": True}

        return self._aws("monitor", call, next_pass)  # type: ignore[no-any-return]

    def settle_imports(self, timeout: float = 180.0, *, overlap: bool = False) -> list[dict[str, Any]]:
        """Monitor passes every 15 virtual minutes until no import is parked or pending; their summaries.

        ``overlap``: each pass runs twice at once (two invocations of the schedule overlapping).
        """
        from concurrent.futures import ThreadPoolExecutor

        from shared.personalize.stage import ensure_datasets, pending_imports

        deps = wiring.stage_deps(settings())
        passes = []
        deadline = time.monotonic() + timeout
        while True:
            self.clock.advance(MONITOR_EVERY)
            if overlap:
                with ThreadPoolExecutor(2) as pool:
                    passes += list(pool.map(lambda _: self.monitor(), range(2)))
            else:
                passes.append(self.monitor())
            if not deps.state.parked_imports() and pending_imports(deps, ensure_datasets(deps)) == 0:
                return passes
            if time.monotonic() > deadline:
                raise RuntimeError("dataset imports did not settle")
            time.sleep(0.3)

    def train(self, at: datetime) -> dict[str, Any]:
        self.clock.set(at)

        def call() -> dict[str, Any]:
            event = scheduled_event("storyrec-train", at)
            return invoke(self.log, _lambda("train").handler, event, "storyrec-train")  # type: ignore[no-any-return]

        def retry() -> dict[str, Any]:  # the async invocation's retry, a minute later
            self.clock.advance(timedelta(minutes=1))
            return call()

        return self._aws("train", call, retry)  # type: ignore[no-any-return]

    def until_decided(
        self, versions: dict[str, str], until: datetime, timeout: float = 420.0
    ) -> tuple[dict[str, Any] | None, list[Any]]:
        """Monitor passes until the run's main version has a decision (or a version failed); (decision, summaries).

        Passes are 15 virtual minutes apart until ``until`` (the next stage's time); later ones, while the
        engine still trains in real time, keep the clock there.
        """
        deps = wiring.stage_deps(settings())
        main = versions.get("main")
        passes: list[Any] = []
        deadline = time.monotonic() + timeout
        while main:
            if self.clock() + MONITOR_EVERY <= until:
                self.clock.advance(MONITOR_EVERY)
            passes.append(self.monitor())
            decision = deps.state.decision_for(main)
            if decision is not None:
                return decision, passes
            if any(deps.personalize.describe_solution_version(v).status.failed for v in versions.values()):
                passes.append(self.monitor())  # the pass that alerts on it
                return None, passes
            if time.monotonic() > deadline:
                return None, passes
            time.sleep(0.5)
        return None, passes

    def fill_feeds(self, at: datetime, docs_hook: Callable[[Any], Any] | None = None) -> dict[str, Any]:
        from shared.recommend import fill_feeds
        from shared.recommend.feeds import run_id_for
        from shared.recommend.wiring import feed_deps

        self.clock.set(at)
        deps = feed_deps(settings())
        if docs_hook is not None:
            deps = docs_hook(deps)
        return fill_feeds(deps, run_id=run_id_for(at)).as_dict()

    def first_feeds(self, uids: list[str], workers: int = 4, firestore_down: int | None = None) -> dict[str, Any]:
        """New readers' first feeds, as ``first_feed_for_new_user`` gives each (True if written). The readers
        join at the same virtual time and their triggers are independent, so they run ``workers`` at a time
        (as the deployed trigger's instances do), each worker on deps of its own (built once per endpoint set,
        not per reader: building the boto3 clients dominated a day of joins).

        ``firestore_down`` (a closed port): the first reader's trigger is first delivered, alone, on deps wired to
        Firestore down; ``first_delivery`` says what it did. Its retry (``retry: true``) is that reader's delivery
        among the rest (a no-op if the first one wrote: the feed write is guarded at the user's creation time)."""
        from concurrent.futures import ThreadPoolExecutor

        from shared.recommend import first_feed
        from shared.recommend.wiring import feed_deps

        out: dict[str, Any] = {}
        if firestore_down is not None and uids:
            as_of, uid = self.clock(), uids[0]

            def down() -> bool:
                return first_feed(feed_deps(settings()), uid, as_of=as_of)

            from infra.local.simulate.outages import FIRESTORE

            with endpoint_down(FIRESTORE, firestore_down):
                try:
                    out["first_delivery"] = f"{uid}: returned {down()} with Firestore down"
                except Exception as exc:  # the trigger raised: its retry delivers the event again
                    out["first_delivery"] = f"{uid}: raised {type(exc).__name__}; redelivered"

        endpoints = tuple(
            sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_ENDPOINT", "STORAGE_", "FIRESTORE_")))
        )
        if self._feed_deps is None or self._feed_deps[0] != endpoints:
            self._feed_deps = (endpoints, queue.SimpleQueue())
        spare, as_of, s = self._feed_deps[1], self.clock(), settings()

        def one(uid: str) -> bool:
            try:
                deps = spare.get_nowait()
            except queue.Empty:
                deps = feed_deps(s)
            try:
                return first_feed(deps, uid, as_of=as_of)
            finally:
                spare.put(deps)

        with ThreadPoolExecutor(max(1, min(workers, len(uids)))) as pool:
            out.update(zip(uids, pool.map(one, uids), strict=True))
        return out


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
