"""Running the demo: the stack and the emulator suite around the steps, stopped even on failure."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.local.demo.aws_steps import step_import, step_monitor, step_train
from infra.local.demo.context import DemoContext, Step
from infra.local.demo.data import DemoData, demo_data
from infra.local.demo.feeds import step_feeds
from infra.local.demo.gcp_steps import step_app_writes, step_capture, step_client_clicks, step_export
from infra.local.demo.homepage import show_homepage
from infra.local.demo.summary import step_report, summary_tables
from infra.local.environ import environment
from infra.local.firebase import emulators
from infra.local.stack import DEFAULT_STATE_DIR, LOCAL_PROJECT, REPO_ROOT, LocalStack, StackError, provision_buckets
from shared import wiring
from shared.config import Settings
from shared.logs import get_logger

CLOCK_DIR = Path(__file__).resolve().parents[1] / "demo_clock"
AWS_SERVICES = ("moto", "gcs", "personalize")
"""The stack's services the demo starts; Firestore and Pub/Sub come from the firebase-tools suite."""
LOGGERS = ("storyrec",)
"""The product's JSON log (shared.logs) and the Lambdas' Powertools loggers (named by service)."""

STEPS: list[tuple[str, Step]] = [
    ("App: stories (backend) and profiles (clients, rules)", step_app_writes),
    ("Clients: clicks through firestore.rules", step_client_clicks),
    ("Capture: the deployed triggers in the Functions emulator", step_capture),
    ("Export: the daily message on Pub/Sub → export_daily", step_export),
    ("Import Lambda: S3 ObjectCreated of the manifest", step_import),
    ("Train Lambda: EventBridge schedule", step_train),
    ("Monitor Lambda: training → promotion decision", step_monitor),
    ("Feeds: the scheduled fill", step_feeds),
    ("Report: storyrec report", step_report),
]


@dataclass
class DemoOutcome:
    """What a run did: each step's result line and seconds, the facts, and the wall time."""

    results: list[tuple[str, str, float, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stack_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.stack_error is None and bool(self.results) and all(ok for *_, ok in self.results)


def deployed_functions(source: Path = REPO_ROOT / "functions_gcp") -> int:
    """How many functions ``functions_gcp`` deploys (its ``@*_fn.on_*`` decorators): the suite waits for all."""
    pattern = re.compile(r"^@\w+_fn\.on_\w+\(", re.MULTILINE)
    return sum(len(pattern.findall(path.read_text(encoding="utf-8"))) for path in source.glob("*.py"))


def provision(settings: Settings) -> None:
    """Create what the deploys create in production (serverless.yml, the Firebase project): the two buckets."""
    provision_buckets(os.environ, settings.import_bucket, settings.backup_bucket)  # as `storyrec-dev stack up` does


def function_env(stack_env: Mapping[str, str], clock_file: Path) -> dict[str, str]:
    """What the Functions emulator's Python runs with: the AWS and GCS endpoints, the demo clock."""
    env = {k: v for k, v in stack_env.items() if k.startswith("AWS_") or k == "STORAGE_EMULATOR_HOST"}
    path = os.pathsep.join(filter(None, [str(CLOCK_DIR), os.environ.get("PYTHONPATH")]))
    return {
        **env,
        "STORYREC_TIME_ZONE": "UTC",
        # the replayed Deskdrop stories were published in 2016-2017: let feeds show stories of any age
        "STORYREC_FEED_MAX_STORY_AGE_DAYS": "36500",
        "STORYREC_DEMO_CLOCK_FILE": str(clock_file),
        "PYTHONPATH": path,
        "POWERTOOLS_METRICS_NAMESPACE": "storyrec",
        "POWERTOOLS_SERVICE_NAME": "storyrec",
    }


@contextlib.contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """Send the product's logs to ``path`` while the demo narrates (they stay there for a failing step)."""
    get_logger("demo")  # installs the product's handler, which the demo then points at the file
    with open(path, "a", encoding="utf-8") as sink:
        swapped = []
        for name in LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    swapped.append((handler, handler.setStream(sink)))
        try:
            yield
        finally:
            for handler, stream in swapped:
                handler.setStream(stream)


def fresh_engine_state(stack: LocalStack) -> None:
    """Start from an empty Personalize engine (the rest of the stack keeps nothing): a rerun must train anew.

    Only while the stack is down: a running engine's state is left alone.
    """
    if all(state == "down" for state in stack.status().values()):
        shutil.rmtree(stack.state_dir / "personalize", ignore_errors=True)


def _alerts_topic(settings: Settings) -> str:
    """The operators' SNS topic serverless.yml creates."""
    return str(wiring.aws_client("sns", settings).create_topic(Name="storyrec-alerts")["TopicArn"])


def _stack_up(
    stack: LocalStack, console: Console, outcome: DemoOutcome, cleanup: contextlib.ExitStack, *, keep: bool
) -> dict[str, str] | None:
    """Start the AWS stand-ins (stopped on the way out unless ``keep``); None, noted in ``outcome``, if they fail."""
    console.rule("[bold]starting the local stack")
    from infra.local.personalize.service import ID_SEED_VARIABLE

    try:
        # the engine inherits this process's environment: seeded version ids, so two runs assign the same arms
        with environment({ID_SEED_VARIABLE: "20"}):
            stack_env = stack.up(AWS_SERVICES, log=lambda m: console.print(m, markup=False))
    except StackError as exc:
        outcome.stack_error = str(exc)
        console.print(f"stack failed to start: {exc}", style="red", markup=False)
        return None
    if not keep:
        cleanup.callback(stack.down, log=lambda m: console.print(m, markup=False))
    return stack_env


def _point_at_stack(stack_env: Mapping[str, str], clock_file: Path, cleanup: contextlib.ExitStack) -> dict[str, str]:
    """Point this process and the functions at the stack, and create what the deploys would; the variables."""
    clock_file.write_text("")
    env = {**stack_env, "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT}
    cleanup.enter_context(environment({**env, **function_env(env, clock_file)}))
    env["STORYREC_SNS_TOPIC_ARN"] = _alerts_topic(Settings.from_env(os.environ))
    cleanup.enter_context(environment(env))
    provision(Settings.from_env(os.environ))
    return env


def _suite_up(
    work: Path, console: Console, outcome: DemoOutcome, cleanup: contextlib.ExitStack
) -> emulators.Suite | None:
    """Start the Firebase emulator suite over ``functions_gcp``; None, noted in ``outcome``, if it fails."""
    console.rule("[bold]starting the Firebase emulator suite (Firestore + rules, Pub/Sub, Functions)")
    try:
        tools_env = emulators.setup(log=lambda line: console.print(line, markup=False))
        began = time.monotonic()
        emulators.bundle()
        console.print(f"setup: functions_gcp bundle ready ({time.monotonic() - began:.1f} s)", markup=False)
        suite = cleanup.enter_context(
            emulators.firebase_suite(
                work / "firebase",
                tools_env,
                functions=deployed_functions(),
                timeout=240.0,
                pubsub=True,
                auth=True,
                hosting=True,
            )
        )
    except emulators.EmulatorError as exc:
        outcome.stack_error = f"the Firebase emulator suite did not start: {exc}"
        console.print(outcome.stack_error, style="red", markup=False)
        return None
    cleanup.enter_context(environment(suite.env))
    return suite


def _run(
    stack: LocalStack,
    work: Path,
    console: Console,
    outcome: DemoOutcome,
    *,
    keep: bool,
    data: DemoData | None,
    steps: Sequence[tuple[str, Step]],
) -> None:
    """Bring everything up, run the steps, print the summary; everything it started stops on the way out."""
    with contextlib.ExitStack() as cleanup:
        stack_env = _stack_up(stack, console, outcome, cleanup, keep=keep)
        if stack_env is None:
            return
        clock_file = work / "clock-offset"
        env = _point_at_stack(stack_env, clock_file, cleanup)
        suite = _suite_up(work, console, outcome, cleanup)
        if suite is None:
            return
        ctx = DemoContext(
            Settings.from_env(os.environ),
            {**env, **suite.env},
            console,
            work,
            data or demo_data(datetime.now(UTC)),
            firestore_host=suite.firestore_host,
            pubsub_host=suite.pubsub_host or "",
            functions_url=f"http://127.0.0.1:{suite.functions_port}",
            suite_log=suite.log,
            clock_file=clock_file,
            facts=outcome.facts,
        )
        console.print(f"data: {ctx.data.source}, {len(ctx.data.clicks)} clicks", markup=False)
        with logs_to(work / "storyrec.log"):
            _run_steps(ctx, steps, outcome)
        for table in summary_tables(ctx):
            console.print(table)
        if outcome.ok:
            show_homepage(ctx, suite, serve=keep)


def execute(
    state_dir: Path | None = None,
    *,
    keep: bool = False,
    console: Console | None = None,
    data: DemoData | None = None,
    steps: Sequence[tuple[str, Step]] | None = None,
) -> DemoOutcome:
    """Start the stack and the suite, run the steps (stopping at the first failure), stop everything."""
    console = console or Console()
    started = time.monotonic()
    outcome = DemoOutcome()
    state = Path(state_dir or DEFAULT_STATE_DIR.parent / "demo")
    work = state / "run"
    work.mkdir(parents=True, exist_ok=True)
    (work / "lambda.log").write_text("")
    stack = LocalStack(state)
    fresh_engine_state(stack)
    try:
        _run(stack, work, console, outcome, keep=keep, data=data, steps=steps or STEPS)
    finally:
        outcome.seconds = time.monotonic() - started
        if keep:
            console.print(f"stack left running: storyrec-dev stack down --state-dir {stack.state_dir}", markup=False)
        console.print(f"demo wall time: {outcome.seconds:.0f} s", markup=False)
    return outcome


def _run_steps(ctx: DemoContext, steps: Sequence[tuple[str, Step]], outcome: DemoOutcome) -> None:
    """Run each step under a rule, stop at the first failure, then print the table of results."""
    table = Table("step", "", "seconds", title="storyrec demo")
    failed = False
    for title, step in steps:
        if failed:
            outcome.results.append((title, "not run: an earlier step failed", 0.0, False))
            table.add_row(title, Text("not run", style="dim"), "-")
            continue
        ctx.console.rule(f"[bold]{title}")
        began = time.monotonic()
        try:
            result, ok = step(ctx), True
        except Exception as exc:  # the demo reports the failing step, then stops the stack
            result, ok, failed = f"FAILED: {type(exc).__name__}: {exc}", False, True
        seconds = time.monotonic() - began
        ctx.console.print(result, style="green" if ok else "red", markup=False)
        outcome.results.append((title, result, seconds, ok))
        table.add_row(title, Text("ok", style="green") if ok else Text("FAILED", style="red"), f"{seconds:.1f}")
    ctx.console.print(table)
    if failed and ctx.suite_log is not None:
        ctx.console.print(
            f"logs: {ctx.suite_log} (emulators, functions), {ctx.work / 'storyrec.log'}, {ctx.work / 'lambda.log'}",
            markup=False,
        )


def run_demo(state_dir: Path | None, *, keep: bool = False, console: Console | None = None) -> int:
    """``storyrec-dev demo``: 0 when every step passed."""
    return 0 if execute(state_dir, keep=keep, console=console).ok else 1
