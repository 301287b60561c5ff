"""``storyrec-dev simulate``: days of the whole pipeline on the local stack, on a virtual clock.

Each simulated day D (UTC): at 02:00 the export of D-1 on its Pub/Sub payload, the manifest's S3 event into
the import Lambda, monitor passes until the imports settle; on the 1st at 03:00 the monthly training and
monitor passes until its promotion decision; at 05:00 the feed fill (feeds checked right after); at 06:00
stories published and retired; at 07:00 readers join and leave; from 07:00 to 23:00 visits and clicks, plus
hostile writes. After the last day, one more night exports, imports and fills what it left. Invariants are
checked each day and written to the ledger (docs/simulate.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import time
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from infra.local.demo.runner import logs_to
from infra.local.environ import environment
from infra.local.personalize.service import ID_SEED_VARIABLE
from infra.local.readers import MODELS
from infra.local.simulate import faults as fault_plan
from infra.local.simulate import invariants as inv
from infra.local.simulate import outages, release
from infra.local.simulate.clock import EngineClockFile, VirtualClock, install, uninstall
from infra.local.simulate.lift import add_look, add_looks, events, lift_table, report_arms, report_feed_days
from infra.local.simulate.online_checks import OnlineChecks
from infra.local.simulate.pipeline import Night, at, endpoint_down, settings
from infra.local.simulate.readers import ReaderModel
from infra.local.simulate.world import World, WorldParams
from infra.local.stack import DEFAULT_STATE_DIR, LOCAL_PROJECT, LocalStack, provision_buckets
from shared import wiring
from shared.personalize.stage import slot_names

ZERO = timedelta(0)
SERVICES = ("moto", "gcs", "firestore", "pubsub", "personalize")
"""Pub/Sub runs for the export's own fan-out publisher; the daily tick's payload is handed to its handler."""
CAPTURE_WORKERS = 4
"""Clicks written and captured side by side (one writer's clicks in order): the trigger's instances run in
parallel too, and a sequential capture cost ~10 ms a click, most of it waiting on the emulator."""


LOCAL_BATCH_ROLE = "arn:aws:iam::000000000000:role/storyrec-personalize"
PROMOTION_MODES = {"offline": "auto", "online": "online"}
"""``--promotion``: the product's ``STORYREC_PROMOTION_MODE`` each runs with."""


@dataclass
class SimConfig:
    days: int
    readers: int
    seed: int = 0
    model: str = "stable"
    faults: Path | None = None
    state_dir: Path | None = None
    start: date | None = None
    world: WorldParams = field(default_factory=WorldParams)
    promotion: str = "offline"
    """``offline``: the offline rule promotes (``STORYREC_PROMOTION_MODE=auto``); ``online``: it only admits a
    candidate to the challenger test, whose verdict promotes or retires it (docs/experiment.md)."""
    control_share: float | None = None
    """The control arm's share (None: the product's default, 5 %); small runs may want more."""
    challenger_share: float | None = None
    """The challenger arm's share while a candidate is under test (None: the product's default, 10 %)."""
    env: dict[str, str] = field(default_factory=dict)
    """Further ``STORYREC_*`` settings for the run (e.g. ``STORYREC_EXPERIMENT_MIN_USERS``, or
    ``STORYREC_MIN_INCREMENTAL_ROWS`` so a short run's held days combine)."""

    def settings_env(self) -> dict[str, str]:
        """The product settings this run changes from production's (the rest are the defaults)."""
        if self.promotion not in PROMOTION_MODES:
            raise ValueError(f"promotion must be one of {sorted(PROMOTION_MODES)}, not {self.promotion!r}")
        out = {"STORYREC_PROMOTION_MODE": PROMOTION_MODES[self.promotion]}
        if self.control_share is not None:
            out["STORYREC_EXPERIMENT_CONTROL_SHARE"] = str(self.control_share)
        if self.challenger_share is not None:
            out["STORYREC_EXPERIMENT_CHALLENGER_SHARE"] = str(self.challenger_share)
        bad = sorted(k for k in self.env if not k.startswith("STORYREC_"))
        if bad:
            raise ValueError(f"only STORYREC_* settings may be set: {bad}")
        return {**out, **self.env}

    def start_date(self) -> date:
        """Default: the run ends yesterday (UTC), so every simulated time is in the engine's past."""
        return self.start or (datetime.now(UTC).date() - timedelta(days=self.days + 1))


@dataclass
class SimResult:
    days: int
    violations: int
    not_checked: int
    ledger: Path
    facts: dict[str, Any]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quality_table(ledger: Path, last: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Mean expected clicks per look over the run's mornings, per list, with a 95 % interval (normal
    approximation over the days; days are not independent, so it is a rough width; None with one morning)."""
    days = [json.loads(line)["stages"].get("quality") for line in ledger.read_text().splitlines() if line]
    days = [q for q in [*days, last["stages"].get("quality")] if q and q.get("readers")]
    table: dict[str, dict[str, float | None]] = {}
    for name in ("feed", "latest", "oracle"):
        values = np.array([q[name] for q in days], dtype=float)
        if len(values) == 0:
            continue
        half = round(float(1.96 * values.std(ddof=1) / np.sqrt(len(values))), 4) if len(values) > 1 else None
        table[name] = {"mean": round(float(values.mean()), 4), "ci95": half, "days": len(values)}
    return table


def quality_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    """The quality table as the console prints it: a mean and its interval, or the one morning's value."""
    out = []
    for name, row in table.items():
        head = f"expected clicks per look, {name:>6}: {row['mean']:.3f}"
        if row.get("ci95") is None:  # one morning has no spread to draw an interval from
            out.append(f"{head} (one morning: no interval)")
        else:
            out.append(f"{head} ± {row['ci95']:.3f} over {row['days']} mornings")
    return out


@contextlib.contextmanager
def timed(into: dict[str, float], stage: str) -> Iterator[None]:
    """Add the block's wall seconds to ``into[stage]`` (the ledger's "where the time goes")."""
    began = time.monotonic()
    try:
        yield
    finally:
        into[stage] = round(into.get(stage, 0.0) + time.monotonic() - began, 2)


class AlertProbe:
    """The operators' SNS topic, read back through an SQS subscription."""

    def __init__(self) -> None:
        s = settings()
        sns, self.sqs = wiring.aws_client("sns", s), wiring.aws_client("sqs", s)
        self.topic = str(sns.create_topic(Name="storyrec-alerts")["TopicArn"])
        self.reports: dict[str, str] = {}
        """The promotion decisions' reports (subject: message), as the operators receive them."""
        self.queue = self.sqs.create_queue(QueueName="storyrec-simulate-alerts")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn)

    def drain(self) -> list[str]:
        subjects = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = resp.get("Messages", [])
            if not messages:
                return subjects
            for msg in messages:
                body = json.loads(msg["Body"])
                subjects.append(str(body.get("Subject") or body.get("Message", "")[:80]))
                if subjects[-1].startswith("storyrec training: "):
                    self.reports[subjects[-1]] = str(body.get("Message", ""))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=msg["ReceiptHandle"])


def _slots() -> list[str]:
    """The names of the serving solution's two slots (the engine keys an injected fault by solution name)."""
    return [name.rsplit("/", 1)[-1] for name in slot_names(settings())]


def _reset_firestore(host: str) -> None:
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{LOCAL_PROJECT}/databases/(default)/documents", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30):  # loopback emulator only
        pass


class Simulation:
    """One run: the world, the night's stages, the faults and the ledger."""

    def __init__(
        self, config: SimConfig, stack: LocalStack, work: Path, log: Any, progress: Callable[[dict[str, Any]], None]
    ) -> None:
        self.config = config
        self.progress = progress
        """Called with each day's ledger record once it is written (the demo's line per day)."""
        self.stack = stack
        self.work = work
        self.ledger_path = work / "ledger.jsonl"
        self.ledger_path.write_text("")
        self.start = config.start_date()
        # the engine's automatic updates (every two hours) follow the simulated day, not the real one
        self.clock = VirtualClock(at(self.start, 0), on_set=EngineClockFile(stack.state_dir / "personalize"))
        self.night = Night(self.clock, log)
        plan = fault_plan.read_plan(config.faults)
        self.faults = plan.faults
        if plan.hostile_per_day is not None:  # the plan's steady rate of hostile clicks
            self.config = replace(config, world=replace(config.world, hostile_per_day=plan.hostile_per_day))
        if plan.hostile_impressions_per_day is not None:  # and of hostile impressions
            world = replace(self.config.world, hostile_impressions_per_day=plan.hostile_impressions_per_day)
            self.config = replace(self.config, world=world)
        self.exports = inv.Exports()
        self.online = OnlineChecks()
        self.operator_deployed: set[str] = set()
        self.violations = 0
        self.not_checked = 0
        self.capture_checked = 0
        """Clicks whose ml_interactions document has been checked (each is read the day it is written)."""
        self.facts: dict[str, Any] = {"trainings": [], "decisions": [], "alerts": 0}
        self.previous_manifest: tuple[str, int] | None = None
        self.early_alerts: list[str] = []
        self.engine_state = stack.state_dir / "personalize"
        self.expired: dict[str, list[dict[str, Any]]] = {}  # held_file_expires: date -> each expiry of it
        self.reported: Counter[str] = Counter()  # reports of each expired date the product sent
        self.started = time.monotonic()
        self.changed: tuple[list[str], list[str], list[str]] = ([], [], [])
        """The day's stories published or retired, readers joined or left, and readers joined (their checks)."""

    def write(self, record: dict[str, Any]) -> None:
        with open(self.ledger_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=str) + "\n")
        self.progress(record)

    def run(self) -> SimResult:
        install(self.clock)
        try:
            self.alerts = AlertProbe()
            os.environ["STORYREC_SNS_TOPIC_ARN"] = self.alerts.topic
            rng = np.random.default_rng(self.config.seed)
            model = ReaderModel(MODELS[self.config.model], np.random.default_rng(self.config.seed + 1))
            s = settings()
            from shared.capture.wiring import build_service

            self.world = World(
                s, model, self.config.world, rng, wiring.firestore_client(s), build_service(s), self.clock
            )
            self.world.hostile_rng = np.random.default_rng(self.config.seed + 2)
            for index in range(self.config.days):
                self.day(index)
            self.final_night()
            self.facts["report"] = str(self.report())
            self.facts["decision_reports"] = dict(self.alerts.reports)
        finally:
            uninstall()
        return SimResult(self.config.days, self.violations, self.not_checked, self.ledger_path, self.facts)

    def report(self) -> Path:
        """The operator's HTML report (``storyrec report``'s code) as of the run's end, over the whole run."""
        from shared.adapters.counters import FirestoreCounter
        from shared.report import gather_report_data, render_html

        s = settings()
        counter = FirestoreCounter(wiring.firestore_client(s), timeout=s.timeouts.firestore)
        days = min(366, self.config.days + 1)
        data = gather_report_data(
            s,
            counter,
            wiring.backup_store(s),
            self.clock(),
            days=days,
            stage=wiring.stage_deps(s),
            feeds=wiring.document_store(s),
        )
        records = [json.loads(line) for line in self.ledger_path.read_text().splitlines() if line]
        data = replace(
            data, simulated_arms=report_arms(self.facts.get("lift") or {}), feed_days=report_feed_days(records)
        )
        out = self.work / "report.html"
        out.write_text(render_html(data), encoding="utf-8")
        return out

    # --- one day ------------------------------------------------------------------------------------
    def day(self, index: int) -> None:
        today = self.start + timedelta(days=index)
        active = fault_plan.active(self.faults, index)
        record: dict[str, Any] = {"day": index, "date": today.isoformat(), "faults": sorted(active), "stages": {}}
        self.arm_version_faults(active, record)
        checks: list[inv.Check] = []
        if index > 0:
            checks += self.night_of(today, active, record)
        took = record.setdefault("seconds", {})
        with self.capture_faults(active, record):  # the day's impressions and clicks are captured in send_clicks()
            with timed(took, "daytime"):
                self.daytime(index, today, active, record)
            with timed(took, "captures"):
                self.send_clicks()
        with timed(took, "checks"):
            checks += inv.check_capture(self.world, since=self.capture_checked)
            checks.append(inv.check_hostile_impressions(self.world))
            self.capture_checked = len(self.world.clicks)
            stories, readers, joined = self.changed
            checks += inv.check_catalogue(self.world, stories, readers)
            checks += inv.check_first_feeds(self.world, joined)
        self.finish(record, checks)

    CAPTURE_FAULTS = {
        "firestore_down_capture": "capture_click",
        "firestore_down_stories": "capture_story",
        "firestore_down_users": "capture_user",
    }
    """The Firestore-triggered captures a fault takes down for their first delivery of the day."""

    @contextlib.contextmanager
    def capture_faults(self, active: set[str], record: dict[str, Any]) -> Iterator[None]:
        """``firestore_down_capture`` / ``_stories`` / ``_users``: the day's first click, story or user delivery
        meets Firestore down, then is redelivered (the trigger's retry)."""
        methods = tuple(m for kind, m in self.CAPTURE_FAULTS.items() if kind in active)
        if not methods:
            yield
            return
        from shared.capture.wiring import build_service

        real = self.world.capture
        down = outages.CaptureWithFirestoreDown(real, lambda: build_service(settings()), closed_port(), methods=methods)
        self.world.capture = down  # type: ignore[assignment]
        try:
            yield
        finally:
            self.world.capture = real
            record["stages"]["capture_firestore_down"] = down.deliveries

    def night_of(self, today: date, active: set[str], record: dict[str, Any]) -> list[inv.Check]:
        """The night before ``today``'s daytime: export of yesterday, import, training, feeds."""
        stages = record["stages"]
        took = record.setdefault("seconds", {})
        if "sns_down_aws" in active:  # the AWS stage's Lambdas meet SNS down until one of them raises for it
            self.night.sns_down, self.night.sns_raised = closed_port(), []
        with timed(took, "export"):
            stages["export"] = self.export(today, active)
        with timed(took, "import"):
            stages["import"] = self.import_(today - timedelta(days=1), active)
            stages.update(self.held_expiry(active))
        with timed(took, "checks"):
            checks = self.data_checks()
            checks += self.online_checks()
        if today.day == 1:
            with timed(took, "training"):
                stages["training"] = self.train(today, active)
        with timed(took, "checks"):
            checks += inv.check_served(settings(), self.operator_deployed)
        if "sns_down_aws" in active:
            stages["sns_down_aws"] = self.night.sns_raised or "no AWS-stage alert tonight (nothing raised)"
            self.night.sns_down = None
        fill_at = at(today, 5)
        with timed(took, "feeds"):
            fill, engine_fault = self.feeds(fill_at, active)
        stages["feeds"] = fill
        with timed(took, "checks"):
            checks += inv.check_feeds(self.world, fill_at, fill, engine_fault, settings().recommend.active_days)
            stages["quality"] = self.quality()
        return checks

    def quality(self) -> dict[str, Any]:
        """Expected clicks per look at the head of each live reader's feed, beside the latest list and the
        oracle feed (the readers' true appeal: the upper bound), as the generator knows them."""
        from shared.recommend.document import feed_story_ids

        w, now = self.world, self.clock()
        collection = w.firestore.collection(w.settings.collections.feeds)
        uids = sorted(w.readers)
        docs: dict[str, dict[str, Any]] = {}
        for start in range(0, len(uids), 300):
            refs = [collection.document(u) for u in uids[start : start + 300]]
            docs.update({s.id: s.to_dict() or {} for s in w.firestore.get_all(refs) if s.exists})
        if not docs:
            return {"readers": 0}
        size = w.model.params.feed_shown
        latest = w.latest()
        sums = {"feed": 0.0, "latest": 0.0, "oracle": 0.0}
        arms: dict[str, dict[str, dict[str, float]]] = {}
        best = w.model.oracle_feeds([w.readers[uid] for uid in docs], w.stories, now, size)
        for uid, doc in docs.items():
            reader = w.readers[uid]
            served = w.model.expected_clicks(reader, feed_story_ids(doc), w.stories, now)
            oracle = w.model.expected_clicks(reader, best[uid], w.stories, now)
            sums["feed"] += served
            sums["latest"] += w.model.expected_clicks(reader, latest, w.stories, now)
            sums["oracle"] += oracle
            add_look(arms, doc, served, oracle)
        return {"readers": len(docs), **{k: round(v / len(docs), 4) for k, v in sums.items()}, "arms": arms}

    def export(self, today: date, active: set[str]) -> dict[str, Any]:
        publish = at(today, 2)
        self.clock.set(publish)
        first: dict[str, Any] = {}
        down = {
            "s3_down_export": ("AWS_ENDPOINT_URL_S3",),
            "gcs_down_export": ("STORAGE_EMULATOR_HOST",),
            "firestore_down_export": ("FIRESTORE_EMULATOR_HOST",),
        }
        sns = ("AWS_ENDPOINT_URL_SNS",) if "sns_down_export" in active else ()
        failing = [kind for kind in down if kind in active]
        if sns and not failing:  # SNS alone: a first delivery that has nothing to alert
            failing = ["sns_down_export"]
        for kind in failing:  # the first delivery meets the service down, then Pub/Sub redelivers
            from shared.export.trigger import handle_message
            from shared.export.wiring import connect

            with endpoint_down(down.get(kind, ()) + sns, closed_port()):
                try:
                    first[kind] = handle_message("", publish, settings(), connect, self.clock()).value
                except Exception as exc:
                    first[kind] = f"raised {type(exc).__name__} (redelivered)"
            self.clock.advance(timedelta(minutes=10))
        if failing == ["sns_down_export"] and first[failing[0]] == "exported":
            return {"outcome": "exported", "first_delivery": first}  # acknowledged: no redelivery
        outcome = self.night.export(publish)
        return {"outcome": outcome, **({"first_delivery": first} if first else {})}

    def import_(self, day: date, active: set[str]) -> dict[str, Any]:
        key, found = self.night.manifest(day)
        result: dict[str, Any] = {"manifest": key if found else None}
        if found is None:
            return result
        size = int(found["bytes"])
        if "s3_event_dropped" in active:
            result["events"] = "dropped"
        elif "engine_down_import" in active:  # the Lambda fails; S3's async retries meet the engine down too
            variables = ("AWS_ENDPOINT_URL_PERSONALIZE",)
            with endpoint_down(variables, closed_port()):
                try:
                    out = self.night.s3_event(key, size)
                    result["engine_down"] = [m.get("started") for m in out.get("manifests", [])]
                except Exception as exc:
                    result["engine_down"] = f"raised {type(exc).__name__}"
            result["events"] = 1
        else:
            deliveries = 2 if "s3_event_duplicate" in active else 1
            started = []
            for _ in range(deliveries):
                out = self.night.s3_event(key, size)
                started += [m.get("started") for m in out.get("manifests", [])]
            result["events"] = deliveries
            result["started"] = started
            if "s3_event_reordered" in active and self.previous_manifest is not None:
                old = self.night.s3_event(*self.previous_manifest)
                result["reordered_redelivery"] = [m.get("started") for m in old.get("manifests", [])]
        self.previous_manifest = (key, size)
        passes = self.night.settle_imports(overlap="overlapping_monitor_passes" in active)
        result["monitor_passes"] = len(passes)
        return result

    def held_expiry(self, active: set[str]) -> dict[str, Any]:
        """The operator re-runs the export of each day the product reported lost (as its alert says), then
        ``held_file_expires`` expires the oldest held day's parts (docs/simulate.md)."""
        new = self.alerts.drain()  # before the import checks: the operator acts on them first
        self.early_alerts += new
        out: dict[str, Any] = {}
        reexported = self.operator_reexports(new)
        if reexported:
            out["operator_reexported"] = reexported
        if "held_file_expires" in active:
            self.exports.refresh(settings())  # the ground truth of what was exported, read before its parts expire
            expired = outages.expire_oldest_held_day(settings())
            out["held_expired"] = expired or "no held day"
            if expired:
                when = {"fault_day": self.clock().date().isoformat(), **expired}
                self.expired.setdefault(expired["day"], []).append(when)
        return out

    def operator_reexports(self, alerts: list[str]) -> list[dict[str, Any]]:
        """For each "held interactions lost: <date>" alert, the operator re-runs that date's export (``replace``:
        the catalogue moved on since) and its manifest's S3 event is delivered: the day is held again."""
        import base64

        from shared.export.trigger import handle_message
        from shared.export.wiring import connect

        done = []
        for day in outages.lost_days(alerts):
            body = base64.b64encode(json.dumps({"date": day, "replace": True}).encode()).decode()
            outcome = handle_message(body, self.clock(), settings(), connect, self.clock()).value
            key, found = self.night.manifest(date.fromisoformat(day))
            if found is not None:
                self.night.s3_event(key, int(found["bytes"]))
            done.append({"date": day, "export": str(outcome), "manifest": key if found else None})
        if done:
            self.night.settle_imports()
        return done

    def expiry_alerts(self, alerts: list[str]) -> tuple[list[str], list[str]]:
        """(alerts left, notes): the first "held interactions lost" alert of each expired day is expected."""
        left, notes = [], []
        for alert in alerts:
            day = next(iter(outages.lost_days([alert])), None)
            if day is not None and self.reported[day] < len(self.expired.get(day, [])):
                fault_day = self.expired[day][self.reported[day]]["fault_day"]
                self.reported[day] += 1
                notes.append(f"{alert}: its parts expired (held_file_expires on {fault_day})")
            else:
                left.append(alert)
        return left, notes

    def expiry_checks(self, final: bool) -> list[inv.Check]:
        """Each expired held day was reported lost (once: a second alert is unexplained), or is still held
        because no group reached the minimum since (at the run's end: not checked); none left silently."""
        from shared.personalize.held import HeldDays

        name = "expired held days reported"
        if not self.expired:
            return [inv.ok(name, "no held day expired")]
        s = settings()
        held, _ = HeldDays(wiring.import_store(s), s.aws_stage.state_prefix).days()
        still = {d.day.isoformat() for d in held}
        due = {d for d, times in self.expired.items() if self.reported[d] < len(times)}  # an expiry not reported yet
        silent = sorted(d for d in due if d not in still)
        waiting = sorted(d for d in due if d in still)
        if silent:
            return [inv.violated(name, f"{len(silent)} expired day(s) left the held set without an alert", silent)]
        if waiting:
            why = f"{waiting}: still held, no group reached the minimum since it expired"
            return [inv.not_checked(name, why) if final else inv.ok(name, why)]
        return [inv.ok(name, f"{sorted(self.reported)} reported lost once and re-exported by the operator")]

    def data_checks(self) -> list[inv.Check]:
        s = settings()
        self.exports.refresh(s)
        from shared.export.window import ExportState

        watermark = ExportState(wiring.document_store(s), s.collections.state).watermark()
        engine_state = self.stack.state_dir / "personalize"
        return inv.check_export(self.world, self.exports, watermark) + inv.check_import(s, self.exports, engine_state)

    def online_checks(self) -> list[inv.Check]:
        """Impressions captured, clicks' attribution in the exported rows, the exposure files (after data_checks)."""
        s = settings()
        return [
            self.online.impressions(self.world),
            self.online.attribution(self.world, s, self.exports),
            *self.online.exposure_checks(self.world, s),
            self.online.hostile(self.world, s, self.exports),
        ]

    def train(self, today: date, active: set[str]) -> dict[str, Any]:
        from infra.local.personalize import injected

        armed = injected.pending(self.engine_state)
        info = self.train_once(today, active)
        taken = self.version_faults_taken(armed)
        if taken:
            info["faults_taken"] = taken
        return info

    def train_once(self, today: date, active: set[str]) -> dict[str, Any]:
        first: dict[str, Any] = {}
        readers = self.metrics_readers()  # the dataset the versions train on: what their metrics rest on
        if "engine_down_training" in active:  # the first delivery meets the engine down
            first = self.train_engine_down(today)
        outcome = first.get("outcome") or self.night.train(at(today, 3, 1) if first else at(today, 3))
        info: dict[str, Any] = {"name": outcome.get("name"), "deferred": outcome.get("deferred")}
        if readers is not None:
            info["metrics_readers"] = readers
        if first:
            info["first_delivery"] = first["what"]
        if outcome.get("deferred") or not outcome.get("versions"):
            self.facts["trainings"].append(info)
            return info
        decision, passes = self.night.until_decided(outcome["versions"], until=at(today, 4, 45))
        info["monitor_passes"] = len(passes)
        deps = wiring.stage_deps(settings())
        failed = {}
        for role, arn in outcome["versions"].items():
            version = deps.personalize.describe_solution_version(arn)
            if version.status.failed:
                failed[role] = version.failure_reason or version.status.value
        if failed:
            info["failed"] = failed
        info["decision"] = (decision or {}).get("action")
        info["reasons"] = (decision or {}).get("reasons")
        info["candidate"] = (decision or {}).get("candidate")
        info["serving"] = (decision or {}).get("serving")  # the version it was judged against (None: nothing served)
        if decision is not None:
            info["served_by_operator"] = self.operator_serves(decision)
        self.facts["trainings"].append(info)
        return info

    def metrics_readers(self) -> dict[str, int] | None:
        """How many readers GetSolutionMetrics' protocol scores on the engine's interactions dataset as it is now
        (infra/local/demo/summary.py's ``scored_of``, the one-day demo's count), beside the readers and rows."""
        from infra.local.demo.summary import scored_of
        from shared.personalize.stage import ensure_datasets

        arn = ensure_datasets(wiring.stage_deps(settings())).by_type.get("interactions")
        rows = inv.engine_interactions(self.engine_state, arn) if arn else None
        if rows is None:
            return None
        per_reader: Counter[str] = Counter()
        for (uid, _, _, _), n in rows.items():
            per_reader[uid] += n
        scored, eligible = scored_of(per_reader.values())
        return {"scored": scored, "eligible": eligible, "readers": len(per_reader), "rows": sum(rows.values())}

    def arm_version_faults(self, active: set[str], record: dict[str, Any]) -> None:
        """``version_*``: the engine's next version of the main solution (either slot) to train fails, reports
        no metrics, or reports halved metrics (infra/local/personalize/injected.py); taken by the next training
        that gets that far, whose day then expects the fault's alert."""
        from infra.local.personalize import injected

        armed = [kind for kind in sorted(active) if kind in fault_plan.VERSION_FAULTS]
        for kind in armed:  # on both slots: the training goes to the one that does not serve (its twin is dropped)
            for solution in _slots():
                injected.arm(self.engine_state, solution, fault_plan.VERSION_FAULTS[kind])
        if armed:
            record["stages"]["versions_armed"] = armed

    def version_faults_taken(self, before: list[dict[str, str]]) -> list[str]:
        """The version faults the night's training took from the engine's queue (armed before, gone now)."""
        from infra.local.personalize import injected

        left = injected.pending(self.engine_state)
        taken = [e for e in before if before.count(e) > left.count(e)]
        for entry in {(e["solution"], e["fault"]) for e in taken}:  # its twin on the other slot is not for later
            for other in set(_slots()) - {entry[0]}:
                injected.take(self.engine_state, other, (entry[1],))
        kinds = {fault: kind for kind, fault in fault_plan.VERSION_FAULTS.items()}
        return sorted({kinds[e["fault"]] for e in taken})

    def version_fault_checks(self) -> list[inv.Check]:
        """At the end: every armed version fault was taken by a training (its effects are checked that night by
        the alert and served-version invariants); one still queued is named, not passed."""
        from infra.local.personalize import injected

        name = "version faults took effect"
        taken = [k for t in self.facts["trainings"] for k in t.get("faults_taken", [])]
        left = injected.pending(self.engine_state)
        if left:
            return [inv.not_checked(name, f"still armed, no version trained that far since: {left}; taken: {taken}")]
        return [inv.ok(name, f"taken: {taken}" if taken else "none armed")]

    def train_engine_down(self, today: date) -> dict[str, Any]:
        """The schedule's first delivery with the engine down: if it raises, the Lambda's async retry comes a
        minute later (the caller's); if it returns (e.g. deferred), that is the outcome."""
        result: dict[str, Any] = {}

        def call() -> Any:
            result["outcome"] = self.night.train(at(today, 3))
            return result["outcome"]

        _raised, result["what"] = outages.first_delivery(call, outages.PERSONALIZE, closed_port())
        return result

    def operator_serves(self, decision: dict[str, Any]) -> bool:
        """Nothing serves and the first candidate was held: the operator runs the decision's promote command,
        ``storyrec promote --version <candidate>`` (its code, ``promote_by_hand``): the campaign is created and the
        promotion recorded with the version's metrics, which the next training's rule compares with. (Creating the
        campaign alone left no record: the next decision found the serving version's metrics missing and held.)"""
        from shared.operate.promote import promote_by_hand
        from shared.personalize.stage import campaign_arn
        from shared.retry import wait_until

        deps = wiring.stage_deps(settings())
        if campaign_arn(deps) is not None or decision.get("action") != "hold" or not decision.get("candidate"):
            return False
        if decision.get("invalid"):  # the report names missing or invalid metrics: an operator does not deploy it
            return False
        promote_by_hand(deps, str(decision["candidate"]), operator="the simulated operator")
        arn = campaign_arn(deps)
        assert arn is not None  # promote_by_hand created it or raised
        wait_until(
            lambda: deps.personalize.describe_campaign(arn),
            lambda c: c.status.value == "ACTIVE" and not (c.latest_update and c.latest_update.status.pending),
            timeout=180,
            interval=0.5,
            what="campaign",
        )
        self.operator_deployed.add(str(decision["candidate"]))
        return True

    def feeds(self, fill_at: datetime, active: set[str]) -> tuple[dict[str, Any] | None, bool]:
        hook = self.delete_during_fill if "story_deleted_during_fill" in active else None
        engine_down = "engine_down_feeds" in active
        variables = ("AWS_ENDPOINT_URL_PERSONALIZE", "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME")
        first = self.fill_first_delivery(fill_at, active)
        with endpoint_down(variables, closed_port()) if engine_down else contextlib.nullcontext():
            summary = first.get("summary") or self.night.fill_feeds(fill_at + first.get("retry_after", ZERO), hook)
        if first:
            summary["first_delivery"] = first["what"]
        return summary, engine_down

    def fill_first_delivery(self, fill_at: datetime, active: set[str]) -> dict[str, Any]:
        """``firestore_down_feeds``, ``sns_down_feeds``: the schedule's first delivery of the fill meets the service
        down; if it raises, Cloud Scheduler retries 10 minutes later (``min_backoff_seconds``); if it returns,
        that is the fill's outcome."""
        services = {"firestore_down_feeds": outages.FIRESTORE, "sns_down_feeds": outages.SNS}
        down = tuple(v for kind, variables in services.items() if kind in active for v in variables)
        if not down:
            return {}
        first: dict[str, Any] = {}

        def call() -> Any:
            first["summary"] = self.night.fill_feeds(fill_at)
            return first["summary"]

        raised, first["what"] = outages.first_delivery(call, down, closed_port())
        if raised:
            first["retry_after"] = timedelta(minutes=10)
        return first

    def delete_during_fill(self, deps: Any) -> Any:
        """Wrap the fill's document store so the most-read live story is deleted right after the fill has read
        the catalogue (its bulk read of ``stories``) and before any feed is written: the write-time re-check
        must withdraw it. (The catalogue is read on a thread of its own beside the first calls, so the first
        GetRecommendations is no longer a point where the catalogue is known to be loaded.)"""
        world = self.world
        stories = f"{deps.collections.stories}/"

        class Docs:
            fired = False

            def __getattr__(self, name: str) -> Any:
                return getattr(deps.docs, name)

            def get_many(self, paths: Any, **kw: Any) -> Any:
                paths = list(paths)
                found = deps.docs.get_many(paths, **kw)
                if not Docs.fired and world.stories and paths and all(p.startswith(stories) for p in paths):
                    Docs.fired = True
                    counts: dict[str, int] = {}
                    for c in world.clicks:
                        if c.sid in world.stories:
                            counts[c.sid] = counts.get(c.sid, 0) + 1
                    world.delete_story(max(sorted(world.stories), key=lambda s: counts.get(s, 0)))
                return found

        return replace(deps, docs=Docs())

    def daytime(self, index: int, today: date, active: set[str], record: dict[str, Any]) -> None:
        w, params = self.world, self.config.world
        self.clock.set(at(today, 6))
        retired = w.retire_old()
        published = w.publish(params.stories_per_day)
        self.clock.set(at(today, 7))
        if index == 0:
            joining = max(1, round(self.config.readers * params.initial_share))
        else:
            rest = self.config.readers - round(self.config.readers * params.initial_share)
            joining = rest * index // max(1, self.config.days - 1) - rest * (index - 1) // max(1, self.config.days - 1)
        left = w.leave() if index > 0 else []
        joined = w.join(joining)
        firestore_down = closed_port() if "firestore_down_first_feed" in active else None
        first = self.night.first_feeds(joined, firestore_down=firestore_down)
        if firestore_down is not None:
            record["stages"]["first_feed_firestore_down"] = first.pop("first_delivery", "no reader joined")
        self.changed = (published + retired, joined + left, joined)
        w.clock_skew_hours = 20.0 if "client_clock_skew" in active else 0.0
        visits = []
        for uid in sorted(w.readers):
            for _ in range(w.model.visits(w.readers[uid])):
                visits.append((float(w.rng.uniform(7 * 3600, 23 * 3600)), uid))
        hostile_times = sorted(float(w.rng.uniform(7 * 3600, 23 * 3600)) for _ in range(params.hostile_per_day))
        hostile_impression_times = [  # their own generator: the other draws stay those of a run without them
            float(w.hostile_rng.uniform(7 * 3600, 23 * 3600)) for _ in range(params.hostile_impressions_per_day)
        ]
        clicks = hostile = hostile_impressions = 0
        feeds = self.todays_feeds(sorted({uid for _, uid in visits}))
        from shared.recommend.document import feed_story_ids

        # the day in time order: a hostile click before a visit at the same second, as before hostile impressions
        timeline = sorted(
            [(t, 0, "") for t in hostile_times]
            + [(t, 1, uid) for t, uid in visits]
            + [(t, 2, "") for t in hostile_impression_times]
        )
        w.deferred = []  # impressions and clicks are sent and captured after the day's visits: self.send_clicks()
        for seconds, kind, uid in timeline:
            self.clock.set(at(today, 0) + timedelta(seconds=seconds))
            if kind == 0:
                hostile += len(w.hostile(1))
            elif kind == 1:
                doc = feeds.get(uid) or {}
                clicks += len(w.visit(w.readers[uid], feed_story_ids(doc) if doc else [], doc))
            else:
                hostile_impressions += w.write_hostile_impression(feeds) is not None
        self.clock.set(at(today, 23, 59))
        topic_added = w.model.end_of_day(list(w.readers.values()), index)
        record["stages"]["day"] = {
            "published": len(published),
            "retired": len(retired),
            "joined": len(joined),
            "left": len(left),
            "readers": len(w.readers),
            "visits": len(visits),
            "clicks": clicks,
            "hostile": hostile,
            "hostile_impressions": hostile_impressions,
            **({"new_topic": w.model.topics - 1} if topic_added else {}),
        }

    def todays_feeds(self, uids: list[str]) -> dict[str, dict[str, Any]]:
        """The feed documents the day's visitors see, read once after the joins (``feeds/{uid}`` as the client
        reads it): nothing writes a feed between the 07:00 joins and the next morning's fill, so a visit's read
        would return the same document, at one round trip per visit."""
        w = self.world
        collection = w.firestore.collection(w.settings.collections.feeds)
        feeds: dict[str, dict[str, Any]] = {}
        for start in range(0, len(uids), 300):
            refs = [collection.document(u) for u in uids[start : start + 300]]
            feeds.update({s.id: s.to_dict() or {} for s in w.firestore.get_all(refs) if s.exists})
        return feeds

    def send_clicks(self) -> None:
        """The day's impressions and clicks written and captured, each at its own virtual time
        (``World.send_deferred``)."""
        self.world.send_deferred(self.clock.pinned, workers=CAPTURE_WORKERS)

    def final_night(self) -> None:
        """The night after the last day: its clicks exported, imported and reconciled too."""
        today = self.start + timedelta(days=self.config.days)
        record: dict[str, Any] = {"day": self.config.days, "date": today.isoformat(), "faults": [], "stages": {}}
        checks = self.night_of(today, set(), record)
        checks += inv.check_capture(self.world)  # every click's document, once more
        checks.append(inv.check_hostile_impressions(self.world))
        w = self.world
        checks += inv.check_catalogue(w, [*w.stories, *w.retired], [*w.readers, *w.left])  # all, once more
        with timed(record.setdefault("seconds", {}), "release"):
            checks += self.release(record)
        self.finish(record, checks, final=True)

    def release(self, record: dict[str, Any]) -> list[inv.Check]:
        """The simulated operator releases the dataset (``storyrec publish-dataset``, infra/local/simulate/release.py)
        into ``<state-dir>/run/release``; the invariant checks it against the ground truth."""
        out = self.work / "release"
        shutil.rmtree(out, ignore_errors=True)
        outcome = release.publish(out)
        record["stages"]["release"] = outcome
        self.facts["release"] = {k: outcome[k] for k in ("command", "exit")}
        self.exports.refresh(settings())
        return release.check_release(self.world, self.exports.counts(), out, outcome)

    def alert_checks(self, faults: set[str], alerts: list[str], record: dict[str, Any]) -> list[inv.Check]:
        """Exactly one alert per injected fault that must alert; no alert that neither a fault nor a known
        state of the run explains (those explained by state are listed in the ledger)."""
        training = record["stages"].get("training") or {}
        faults = (faults - set(fault_plan.VERSION_FAULTS)) | set(training.get("faults_taken", []))
        explained: dict[str, str] = {"storyrec training: ": "the promotion decision's report (one per decision)"}
        data_minimums = ("interactions", "users", "too few", "not enough")
        for_data = {
            role: r
            for role, r in (training.get("failed") or {}).items()
            if "injected fault" not in str(r).lower() and any(m in str(r).lower() for m in data_minimums)
        }
        if for_data and len(for_data) + ("version_fails" in faults) == len(training["failed"]):
            explained["training failed"] = f"the scheduled training failed for want of data: {for_data}"
        alerts, expiry_notes = self.expiry_alerts(alerts)
        unmatched, unexplained, notes = fault_plan.match_alerts(faults, alerts, explained)
        notes += expiry_notes
        one = (
            inv.violated("one alert per injected fault", "; ".join(unmatched), unmatched)
            if unmatched
            else inv.ok("one alert per injected fault", f"{len(faults)} fault(s), {len(alerts)} alert(s)")
        )
        none = (
            inv.violated("no alert without a fault", f"{len(unexplained)} unexplained", unexplained)
            if unexplained
            else inv.ok("no alert without a fault", "; ".join(notes))
        )
        return [one, none]

    def finish(self, record: dict[str, Any], checks: list[inv.Check], *, final: bool = False) -> None:
        new = self.alerts.drain()
        alerts, self.early_alerts = self.early_alerts + new, []
        self.facts["alerts"] += len(alerts)
        record["alerts"] = alerts
        reexported = self.operator_reexports(new)  # a loss reported after the import checks
        if reexported:
            record["stages"].setdefault("operator_reexported", []).extend(reexported)
        checks += self.alert_checks(set(record["faults"]), alerts, record)
        if "export" in record["stages"]:  # a night
            checks += self.expiry_checks(final)
        if final:
            checks += self.version_fault_checks()
        record["checks"] = [c.as_dict() for c in checks]
        bad, unknown = inv.summarize(checks)
        record["violations"] = bad
        self.violations += bad
        self.not_checked += unknown
        if final:
            record["final"] = True
            wall = time.monotonic() - self.started
            self.facts["wall_seconds"] = round(wall, 1)
            self.facts["days_per_minute"] = round(self.config.days / (wall / 60), 2)
            self.facts["quality"] = quality_table(self.ledger_path, record)
            self.facts["lift"] = self.lift(record)
            self.facts["online_tests"] = self.online_tests()
            record["totals"] = {"violations": self.violations, "not_checked": self.not_checked, **self.facts}
        self.write(record)

    def online_tests(self) -> list[dict[str, Any]]:
        """The AWS stage's last look at each test (the monitor's verdict, as ``storyrec status`` shows it) and
        every decision record's action: what the online test decided during the run."""
        deps = wiring.stage_deps(settings())
        out: list[dict[str, Any]] = []
        for look in deps.state.looks():
            users = {a.get("arm"): a.get("users") for a in look.get("arms") or []}
            keep = ("experiment_id", "action", "days", "reasons", "candidate", "looked_at")
            out.append({**{k: look.get(k) for k in keep}, "exposed": users})
        for decision in deps.state.decisions():
            version = str(decision.get("candidate") or decision.get("version") or "?").rsplit("/", 1)[-1]
            out.append({"version": version, "decision": decision.get("action"), "reasons": decision.get("reasons")})
        return out

    def lift(self, last: dict[str, Any]) -> dict[str, Any]:
        """The run's lift table (per test and arm, beside the oracle), also written to ``lift.json``."""
        looks: dict[str, dict[str, dict[str, float]]] = {}
        for line in self.ledger_path.read_text().splitlines():
            if line:
                add_looks(looks, json.loads(line)["stages"].get("quality"))
        add_looks(looks, last["stages"].get("quality"))
        table = lift_table(events(self.world.impressions, self.world.clicks), looks)
        (self.work / "lift.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
        return table


def run_simulation(
    config: SimConfig, log: Any = print, progress: Callable[[dict[str, Any]], None] | None = None
) -> SimResult:
    """Start the local stack (fresh), run the simulation, stop the stack; the result. ``progress``: called with
    each day's ledger record."""
    config.settings_env()  # a bad option fails before the stack starts
    state = Path(config.state_dir or DEFAULT_STATE_DIR.parent / "simulate")
    work = state / "run"
    work.mkdir(parents=True, exist_ok=True)
    from infra.local.simulate.pipeline import LambdaStdout, reused_aws_clients

    stack = LocalStack(state)
    stack.down(log=log)
    shutil.rmtree(stack.state_dir / "personalize", ignore_errors=True)
    # the engine inherits this environment: version ids drawn from the run's seed, so what is keyed on a version
    # (the online test's holdout, salted by the serving version's id) is the same in two runs of one seed
    with environment({ID_SEED_VARIABLE: str(abs(config.seed))}):
        env = stack.up(SERVICES, log=log)
    try:
        _reset_firestore(env["FIRESTORE_EMULATOR_HOST"])
        values = {
            **env,
            "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT,
            # the fill's rate limit is the campaign's real-time quota (50 calls a second by default); the local
            # engine has none, and at 50 a second a fill of 1,000 readers waited 20 real seconds a day
            "STORYREC_FEED_CAMPAIGN_TPS": "1000",
            "STORYREC_TIME_ZONE": "UTC",
            "POWERTOOLS_METRICS_NAMESPACE": "storyrec",
            "POWERTOOLS_SERVICE_NAME": "storyrec",
            "STORYREC_CAPTURE_METRICS": "log",
            # the role a deployment gives batch inference (the challenger arm's feeds): Personalize, and the local
            # engine, refuse CreateBatchInferenceJob without one
            "STORYREC_FEED_BATCH_ROLE_ARN": LOCAL_BATCH_ROLE,
            **config.settings_env(),
        }
        with environment(values):
            s = settings()
            provision_buckets(os.environ, s.import_bucket, s.backup_bucket)
            (work / "storyrec.log").write_text("")  # logs_to appends: one run's log per file
            with (
                open(work / "lambda.log", "w", encoding="utf-8") as lambda_log,
                logs_to(work / "storyrec.log"),
                warnings.catch_warnings(),
                reused_aws_clients(),
                contextlib.redirect_stdout(LambdaStdout(sys.stdout, lambda_log)),
            ):
                # for the whole run: the overlapping monitor passes invoke Lambdas from two threads at once
                warnings.filterwarnings("ignore", "No application metrics to publish")
                return Simulation(config, stack, work, lambda_log, progress or (lambda _: None)).run()
    finally:
        stack.down(log=log)
