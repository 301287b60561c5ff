"""``storyrec-dev demo``: the pipeline end to end against the local stack, narrated.

Each step is a plain function taking the demo context; stages add their steps as they land.
The stack is always stopped at the end (unless ``keep``), even when a step fails.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.local.stack import DEFAULT_STATE_DIR, LocalStack, StackError
from shared import wiring
from shared.config import Settings
from shared.logs import get_logger
from shared.ports import Query, Where, Write


@dataclass
class DemoContext:
    """What the steps share: settings pointed at the stack, and notes for the summary."""

    settings: Settings
    env: dict[str, str]
    console: Console
    facts: dict[str, Any] = field(default_factory=dict)


Step = Callable[[DemoContext], str]


CATEGORIES = ("tech", "cloud", "fintech")
DEMO_USERS, DEMO_STORIES, CLICKS_PER_USER = 60, 90, 25


def demo_documents(now: datetime, seed: int = 7) -> tuple[list[Write], list[Write], list[Write]]:
    """Stories, users and clicks as the app and its clients would write them; each user leans to a category."""
    import random

    rng = random.Random(seed)
    stories = [Write(f"stories/story-{i}", data={
        "title": f"Story {i}, with \"quotes\"", "url": f"https://news.example/{i}", "source": "example",
        "category": CATEGORIES[i % 3], "tags": ["ai", "serverless", "pricing"][: 1 + i % 3],
        "lang": "en", "summary": f"Summary {i}: commas, \"quotes\" and | pipes", "status": "published",
        "publishedAt": now - timedelta(days=2, minutes=i),
    }) for i in range(DEMO_STORIES)]
    users = [Write(f"users/user-{u}", data={"displayName": f"User {u}", "lang": "en", "country": "br"})
             for u in range(DEMO_USERS)]
    clicks = []
    for u in range(DEMO_USERS):
        liked = [i for i in range(DEMO_STORIES) if i % 3 == u % 3]
        for k in range(CLICKS_PER_USER):
            story = rng.choice(liked) if rng.random() < 0.8 else rng.randrange(DEMO_STORIES)
            at = now - timedelta(hours=CLICKS_PER_USER - k, minutes=u)
            clicks.append(Write(f"clicks/click-{u}-{k}", data={
                "userId": f"user-{u}", "storyId": f"story-{story}", "type": rng.choice(["open", "read", "like"]),
                "clientTime": at, "createdAt": at, "device": "web", "sessionId": f"s-{u}-{k // 5}",
            }))
    bad = [  # what a buggy or hostile client might send: each must land in quarantine, not crash anything
        {"userId": "user-1", "storyId": "story-1", "type": "teleport", "clientTime": now, "createdAt": now},
        {"userId": "user-2", "storyId": "no-such-story", "type": "open", "clientTime": now, "createdAt": now},
        {"userId": "user,3\n", "storyId": "story-3", "type": "open", "clientTime": now, "createdAt": now},
    ]
    clicks += [Write(f"clicks/bad-{i}", data=d) for i, d in enumerate(bad)]
    return stories, users, clicks


def step_firestore(ctx: DemoContext) -> str:
    """Write stories, users and clicks as the app and its clients would, then query them back."""
    store = wiring.document_store(ctx.settings)
    stories, users, clicks = demo_documents(datetime.now(UTC))
    writes = store.write_batch(stories + users + clicks)
    page = store.query(Query("stories", (Where("category", "==", "tech"),), ("publishedAt",)))
    return (f"{writes} documents written in batches of 500 ({len(stories)} stories, {len(users)} users, "
            f"{len(clicks)} clicks); {len(page)} tech stories read back in order")


def step_capture(ctx: DemoContext) -> str:
    """Run the capture use cases (the triggers' code path) over every document, twice."""
    from collections import Counter

    from shared.capture.backfill import replay
    from shared.capture.wiring import build_service

    service = build_service(ctx.settings)
    store = wiring.document_store(ctx.settings)
    first: Counter[str] = Counter()
    for source in ("stories", "users", "clicks"):
        first.update({f"{source}:{k!s}": v for k, v in replay(service, store, source).items()})
    second = {str(k): v for k, v in replay(service, store, "clicks").items()}
    reasons = sorted(str(q.data.get("reason")) for q in store.query(Query(ctx.settings.collections.quarantine)))
    summary = ", ".join(f"{k}={v}" for k, v in sorted(first.items()))
    return (f"{summary}; quarantine reasons {reasons}; a second replay of clicks: "
            f"{second} (no new interaction)")


def step_object_stores(ctx: DemoContext) -> str:
    """Put and read back a CSV in the S3 import bucket and the GCS backup bucket."""
    s = ctx.settings
    body = b"ITEM_ID,SUMMARY\nstory-1,\"commas, \"\"quotes\"\" and\nnewlines\"\n"
    key = f"demo/dt={datetime.now(UTC):%Y-%m-%d}/part-00000.csv"
    out = []
    for store in (wiring.import_store(s), wiring.backup_store(s)):
        store.put_bytes(key, body, content_type="text/csv")
        assert store.get_bytes(key) == body
        out.append(f"{type(store).__name__.removesuffix('ObjectStore')}:{store.bucket}")
    return f"{key} round-tripped byte for byte on " + " and ".join(out)


def step_alerts_and_metrics(ctx: DemoContext) -> str:
    """Publish an operator alert through SNS (read back via SQS) and a CloudWatch metric."""
    s = ctx.settings
    sns, sqs, cw = (wiring.aws_client(n, s) for n in ("sns", "sqs", "cloudwatch"))
    topic = sns.create_topic(Name="storyrec-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="storyrec-ops-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    from shared.adapters.cloudwatch import CloudWatchMetrics
    from shared.adapters.sns import SnsNotifier

    SnsNotifier(sns, topic).notify("storyrec demo", "the ops inbox works", {"step": "demo"})
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    metrics = CloudWatchMetrics(cw, s.metrics_namespace)
    metrics.put("DemoRun")
    metrics.flush()
    listed = cw.list_metrics(Namespace=s.metrics_namespace)["Metrics"]
    message = json.loads(received[0]["Body"])["Message"] if received else "nothing"
    return f"SNS→SQS delivered {message!r}; CloudWatch has {len(listed)} metric(s) in {s.metrics_namespace}"


def step_pubsub(ctx: DemoContext) -> str:
    """Create the daily export's schedule topic and publish a tick on it, as Cloud Scheduler would."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(ctx.settings.gcp_project, ctx.settings.export.topic)
    sub = subscriber.subscription_path(ctx.settings.gcp_project, f"demo-{uuid.uuid4().hex[:6]}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    publisher.publish(topic, b"{}").result(timeout=30)
    got = subscriber.pull(subscription=sub, max_messages=1, timeout=30).received_messages
    return f"tick published and pulled on {topic.rsplit('/', 1)[1]} ({len(got)} message)"


def step_export(ctx: DemoContext) -> str:
    """Run the daily export for today, with the clock moved to just after tonight's schedule."""
    from shared.export import run_export
    from shared.export.wiring import export_deps

    s = ctx.settings
    today = datetime.now(s.tz).date()
    tomorrow_run = datetime.combine(today + timedelta(days=1), datetime.min.time(), s.tz) + timedelta(minutes=30)
    result = run_export(today, export_deps(s, clock=lambda: tomorrow_run))
    again = run_export(today, export_deps(s, clock=lambda: tomorrow_run))
    ctx.facts["export"] = result
    store, backup = wiring.import_store(s), wiring.backup_store(s)
    same = all(store.get_bytes(f.key) == backup.get_bytes(f.key) for d in result.datasets for f in d.files)
    rows = ", ".join(f"{d.dataset}={d.rows}" for d in result.datasets)
    identical = all(
        a.sha256 == b.sha256 for x, y in zip(result.datasets, again.datasets, strict=True)
        for a, b in zip(x.files, y.files, strict=True)
    )
    return (f"{rows} rows → s3://{store.bucket}/ and gs://{backup.bucket}/ ({'identical' if same else 'DIFFERENT'} "
            f"copies), manifest {result.manifest_key}; a rerun of {today} is "
            f"{'byte-identical' if identical else 'DIFFERENT'}")


def step_personalize(ctx: DemoContext) -> str:
    """The AWS stage's use cases (what the Lambdas run) on the local engine: import, train, decide, recommend."""
    if "AWS_ENDPOINT_URL_PERSONALIZE" not in ctx.env:
        return "SKIPPED: the local Personalize engine is not installed here"
    from shared.personalize.imports import import_manifest, redrive_parked
    from shared.personalize.monitor import monitor
    from shared.personalize.stage import campaign_arn, ensure_datasets, pending_imports
    from shared.personalize.training import train, training_run_name
    from shared.personalize.waiter import wait_until
    from shared.personalize.wiring import stage_deps

    s = ctx.settings
    deps = stage_deps(s)
    export = ctx.facts["export"]
    outcome = import_manifest(export.manifest_key, deps)
    again = import_manifest(export.manifest_key, deps)  # S3 delivers at least once: the retry starts nothing

    def imports_settled() -> bool:
        redrive_parked(deps)
        return not deps.state.parked_imports() and pending_imports(deps, ensure_datasets(deps)) == 0

    wait_until(imports_settled, bool, timeout=120, interval=0.2, what="imports")
    run = train(deps, training_run_name(datetime.now(UTC)))
    report = wait_until(lambda: monitor(deps), lambda r: r.decision is not None, timeout=300, interval=0.5,
                        what="training and the promotion decision")
    decision = report.decision or {}
    campaign = campaign_arn(deps)
    if campaign is None:
        return f"trained {list(run.versions)}, decision {decision.get('action')}: {decision.get('reasons')}"
    wait_until(lambda: deps.personalize.describe_campaign(campaign), lambda c: c.status.value == "ACTIVE",
               timeout=120, interval=0.2, what="campaign")
    recs = deps.personalize.get_recommendations(campaign, "user-0", num_results=10)
    docs = wiring.document_store(s)
    categories = [str((docs.get(f"stories/{r.item_id}") or {}).get("category")) for r in recs]
    share = categories.count(CATEGORIES[0]) / max(1, len(categories))
    ndcg = decision.get("metrics", {}).get("candidate", {}).get("normalized_discounted_cumulative_gain_at_10", 0)
    base = (decision.get("metrics", {}).get("baseline") or {}).get("normalized_discounted_cumulative_gain_at_10", 0)
    return (f"{len(outcome.started)} import jobs started (a repeated event started {len(again.started)}); "
            f"trained {s.personalize.recipe_arn.rsplit('/', 1)[1]} (NDCG@10 {ndcg:.3f} vs popularity {base:.3f}), "
            f"decision {decision.get('action')!r}, campaign ACTIVE; user-0 (leans to {CATEGORIES[0]!r}) gets "
            f"{[r.item_id for r in recs[:5]]}…, {share:.0%} of the top 10 in {CATEGORIES[0]!r}")


STEPS: list[tuple[str, Step]] = [
    ("Firestore: the app's collections", step_firestore),
    ("Capture: triggers' use cases → ML records", step_capture),
    ("S3 import bucket + GCS backup bucket", step_object_stores),
    ("SNS alerts + CloudWatch metrics", step_alerts_and_metrics),
    ("Pub/Sub schedule topic", step_pubsub),
    ("Export: Personalize CSVs to S3 + GCS", step_export),
    ("Personalize (local engine): import, train, recommend", step_personalize),
]


def provision(settings: Settings) -> None:
    """Create what the deploys (serverless.yml, the Firebase project) create in production: the two buckets."""
    wiring.aws_client("s3", settings).create_bucket(Bucket=settings.import_bucket)
    wiring.storage_client(settings).create_bucket(settings.backup_bucket)


def run_demo(state_dir: Path | None, *, keep: bool = False, console: Console | None = None) -> int:
    """Run every step; return 0 if all passed. Always stops the stack unless ``keep``."""
    console = console or Console()
    get_logger("demo")  # installs the JSON handler; the demo narrates, so only errors get through
    logging.getLogger("storyrec").setLevel(logging.ERROR)
    stack = LocalStack(state_dir or DEFAULT_STATE_DIR.parent / "demo")
    table = Table("step", "result", "seconds", title="storyrec demo")
    failed = 0
    try:
        console.rule("[bold]starting the local stack")
        try:
            env = stack.up(log=lambda m: console.print(m, markup=False))
        except StackError as exc:
            console.print(f"stack failed to start: {exc}", style="red", markup=False)
            return 1
        os.environ.update(env)
        ctx = DemoContext(Settings.from_env(os.environ), env, console)
        provision(ctx.settings)
        for title, step in STEPS:
            console.rule(f"[bold]{title}")
            started = time.monotonic()
            try:
                result = step(ctx)
                style = "yellow" if result.startswith("SKIPPED") else "green"
            except Exception as exc:  # the demo reports every step, whatever fails
                failed += 1
                result, style = f"FAILED: {type(exc).__name__}: {exc}", "red"
            console.print(result, style=style, markup=False)
            table.add_row(title, Text(result, style=style), f"{time.monotonic() - started:.2f}")
        console.print(table)
    finally:
        if keep:
            console.print("stack left running: `storyrec-dev stack status`, stop with `storyrec-dev stack down`"
                          f" --state-dir {stack.state_dir}")
        else:
            console.rule("[bold]stopping the local stack")
            stack.down(log=lambda m: console.print(m, markup=False))
    return 1 if failed else 0
