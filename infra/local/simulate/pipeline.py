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
import sys
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


@contextlib.contextmanager
def endpoint_down(variables: tuple[str, ...], closed_port: int) -> Iterator[None]:
    """Point ``variables`` at a closed loopback port for the block: the service is down for that stage."""
    down = {
        key: f"127.0.0.1:{closed_port}" if key == "FIRESTORE_EMULATOR_HOST" else f"http://127.0.0.1:{closed_port}"
        for key in variables
    }
    with environment(down):
        yield


def _lambda(name: str) -> Any:
    import importlib

    return importlib.import_module(f"functions_aws.{name}")


def invoke(
    log: io.TextIOBase | Any, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any], name: str
) -> Any:
    """Call a Lambda handler through its decorators; its EMF lines go to ``log``."""
    with contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics to publish")
        return handler(event, LambdaContext(name))


class Night:
    """The stages of one night, on the virtual clock; ``log`` takes the Lambdas' EMF output."""

    def __init__(self, clock: VirtualClock, log: Any) -> None:
        self.clock = clock
        self.log = log
        self._feed_deps: tuple[tuple[tuple[str, str], ...], Any] | None = None

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
        s = settings()
        return invoke(
            self.log,
            _lambda("import_manifest").handler,
            s3_object_created(s.import_bucket, key, size),
            "storyrec-import",
        )

    def monitor(self) -> dict[str, Any]:
        event = scheduled_event("storyrec-monitor", self.clock())
        return invoke(self.log, _lambda("monitor").handler, event, "storyrec-monitor")  # type: ignore[no-any-return]

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
                saved = sys.stdout  # redirect_stdout from two threads at once can leave the Lambda log as stdout
                try:
                    with ThreadPoolExecutor(2) as pool:
                        passes += list(pool.map(lambda _: self.monitor(), range(2)))
                finally:
                    sys.stdout = saved
            else:
                passes.append(self.monitor())
            if not deps.state.parked_imports() and pending_imports(deps, ensure_datasets(deps)) == 0:
                return passes
            if time.monotonic() > deadline:
                raise RuntimeError("dataset imports did not settle")
            time.sleep(0.3)

    def train(self, at: datetime) -> dict[str, Any]:
        self.clock.set(at)
        event = scheduled_event("storyrec-train", at)
        return invoke(self.log, _lambda("train").handler, event, "storyrec-train")  # type: ignore[no-any-return]

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

    def first_feed(self, uid: str) -> bool:
        """A new reader's first feed, as ``first_feed_for_new_user`` gives it (its deps built once per
        endpoint set, not per reader: building the boto3 clients dominated a day of joins)."""
        from shared.recommend import first_feed
        from shared.recommend.wiring import feed_deps

        endpoints = tuple(
            sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_ENDPOINT", "STORAGE_", "FIRESTORE_")))
        )
        if self._feed_deps is None or self._feed_deps[0] != endpoints:
            self._feed_deps = (endpoints, feed_deps(settings()))
        return first_feed(self._feed_deps[1], uid, as_of=self.clock())


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
