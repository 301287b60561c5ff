"""The AWS side: the import, train and monitor Lambdas through their decorators, with the events AWS sends."""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

from infra.local.demo.context import DemoContext
from infra.local.lambda_events import LambdaContext, s3_object_created, scheduled_event
from shared import wiring
from shared.personalize.metrics import metric_label
from shared.personalize.stage import campaign_arn, ensure_datasets, pending_imports
from shared.retry import wait_until
from shared.wiring import stage_deps

T = TypeVar("T")


def lambda_module(name: str) -> ModuleType:
    """``functions_aws.<name>``, loaded on first use.

    Not at module top: each Lambda's Powertools ``Metrics()`` reads POWERTOOLS_METRICS_NAMESPACE when its
    module loads, and the runner sets that variable only once the stack is up.
    """
    return importlib.import_module(f"functions_aws.{name}")


def invoke(ctx: DemoContext, handler: Callable[[dict[str, Any], Any], T], event: dict[str, Any], name: str) -> T:
    """Call a Lambda handler through its decorators; its EMF metrics (printed) go to the Lambda log file."""
    with (
        open(ctx.work / "lambda.log", "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "No application metrics to publish")
        return handler(event, LambdaContext(name))


def _monitor_pass(ctx: DemoContext) -> dict[str, Any]:
    """One run of the monitor Lambda on its EventBridge schedule."""
    event = scheduled_event("storyrec-monitor", datetime.now(UTC))
    return invoke(ctx, lambda_module("monitor").handler, event, "storyrec-monitor")


def step_import(ctx: DemoContext) -> str:
    """The import Lambda on the manifest's S3 event; the monitor's schedule re-drives what had to wait."""
    s = ctx.settings
    key = ctx.facts["manifest_key"]
    size = wiring.aws_client("s3", s).head_object(Bucket=s.import_bucket, Key=key)["ContentLength"]
    handler = lambda_module("import_manifest").handler
    first = invoke(ctx, handler, s3_object_created(s.import_bucket, key, size), "storyrec-import")
    again = invoke(ctx, handler, s3_object_created(s.import_bucket, key, size), "storyrec-import")
    deps = stage_deps(ctx.settings)

    def settled() -> bool:
        _monitor_pass(ctx)
        return not deps.state.parked_imports() and pending_imports(deps, ensure_datasets(deps)) == 0

    wait_until(settled, bool, timeout=180, interval=1.0, max_interval=1.0, what="dataset import jobs")
    [outcome] = first["manifests"]
    [repeat] = again["manifests"]
    ctx.facts["import_jobs"] = len(outcome["started"]) + len(repeat["started"])
    return (
        f"S3 ObjectCreated → import Lambda started {len(outcome['started'])} import jobs; the repeated event "
        f"started {len(repeat['started'])}; all ACTIVE"
    )


def step_train(ctx: DemoContext) -> str:
    """The train Lambda on its monthly EventBridge schedule."""
    event = scheduled_event("storyrec-train", datetime.now(UTC))
    result = invoke(ctx, lambda_module("train").handler, event, "storyrec-train")
    if result.get("deferred"):
        raise RuntimeError(f"training deferred: {result['deferred']}")
    ctx.facts["training"] = result
    return f"EventBridge → train Lambda started {result['name']}: {sorted(result['versions'])} solution versions"


def _serve(deps: Any, decision: dict[str, Any]) -> tuple[str | None, bool]:
    """The campaign serving once the decision is made; (its ARN, whether the demo deployed it by hand)."""
    arn = campaign_arn(deps)
    deployed_by_hand = False
    if arn is None and decision.get("candidate"):
        # nothing serves yet and the candidate was kept: the operator's manual path (the decision's
        # promote_command) deploys it, so the app has feeds from day one
        p = deps.settings.personalize
        arn = deps.personalize.ensure_campaign(p.campaign, decision["candidate"], p.min_campaign_tps)
        deployed_by_hand = True
    if arn is not None:
        wait_until(
            lambda: deps.personalize.describe_campaign(arn),
            lambda c: c.status.value == "ACTIVE" and not (c.latest_update and c.latest_update.status.pending),
            timeout=180,
            interval=1.0,
            max_interval=1.0,
            what="campaign",
        )
    return arn, deployed_by_hand


def step_monitor(ctx: DemoContext) -> str:
    """The monitor Lambda, on its schedule, until training ends and the promotion is decided."""
    passes = 0

    def counted() -> dict[str, Any]:
        nonlocal passes
        passes += 1
        return _monitor_pass(ctx)

    wait_until(
        counted,
        lambda r: r.get("decision") is not None,
        timeout=420,
        interval=2.0,
        max_interval=2.0,
        what="training and the promotion decision",
    )
    deps = stage_deps(ctx.settings)
    decision = deps.state.decision_for(ctx.facts["training"]["versions"]["main"]) or {}
    ctx.facts["decision"] = decision
    arn, deployed_by_hand = _serve(deps, decision)
    ctx.facts["campaign"], ctx.facts["deployed_by_hand"] = arn, deployed_by_hand
    metric = deps.settings.aws_stage.primary_metric
    candidate = (decision.get("metrics") or {}).get("candidate") or {}
    baseline = (decision.get("metrics") or {}).get("baseline") or {}
    why = "\n".join(f"  - {reason}" for reason in decision.get("reasons", []))
    return (
        f"{passes} monitor passes; decision {decision.get('action')!r}, because:\n{why}\n"
        f"{metric_label(metric)} {candidate.get(metric, 0):.3f} vs popularity {baseline.get(metric, 0):.3f}; "
        f"campaign ACTIVE{' (no campaign served yet: deployed by hand, as the decision says)' * deployed_by_hand}"
    )
