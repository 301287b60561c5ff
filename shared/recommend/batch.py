"""Batch fill: one batch inference job over every user; its output goes through the same checks and writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from shared.errors import NotReady, StoryrecError
from shared.personalize.model import (
    BatchInferenceJob,
    BatchInferenceRequest,
    Recommendation,
    Recommendations,
    Status,
    item_exploration,
)
from shared.recommend.campaign import request_size
from shared.recommend.deps import FeedDeps
from shared.recommend.run import FeedRun
from shared.recommend.writer import FeedWrite, FeedWriter, bounded_map
from shared.retry import wait_until

_JOB_NAME = re.compile(r"[^a-zA-Z0-9\-_]")
BatchLine = tuple[str | None, Recommendations | None, str | None]
"""(user id, answer, error) of one output line; no user id when the line is unreadable."""


def fill_batch(
    run: FeedRun, users: Sequence[str], writer: FeedWriter, *, version: str | None = None, tag: str = ""
) -> None:
    """Write each user's input line, run the job, build every answered user's feed; the rest fail.

    ``version``: the solution version to ask (default: the campaign's); ``tag`` names a second job of the
    same run (``challenger``: the candidate under test, docs/experiment.md).
    """
    deps, config = run.deps, run.deps.config
    store = deps.batch_store
    assert store is not None and run.campaign is not None
    suffix = f"-{tag}" if tag else ""
    base = f"{config.batch_prefix}{run.summary.run_id}{suffix}/"
    lines = "\n".join(json.dumps({"userId": u, "filterValues": run.filter_values}) for u in users)
    store.put_bytes(f"{base}users.jsonl", lines.encode(), content_type="application/json")
    name = _JOB_NAME.sub("-", f"storyrec-feeds-{run.summary.run_id}{suffix}")

    def request(attempt: int) -> BatchInferenceRequest:
        again = f"-{attempt}" if attempt > 1 else ""
        return BatchInferenceRequest(
            job_name=name[: 63 - len(again)] + again,
            solution_version_arn=version or run.campaign.solution_version_arn,  # type: ignore[union-attr]
            input_uri=f"s3://{store.bucket}/{base}users.jsonl",
            output_uri=f"s3://{store.bucket}/{base}output/" + (f"attempt-{attempt}/" if attempt > 1 else ""),
            num_results=request_size(deps.personalize.num_results),
            role_arn=config.batch_role_arn or deps.personalize.import_role_arn,
            filter_arn=run.filter_arn,
            item_exploration=item_exploration(deps.personalize.recipe_arn),
        )

    output = f"{base}output/"
    try:
        job, output = start_attempt(deps, request)
        status, reason = await_batch(deps, job)
    except StoryrecError as exc:
        status, reason = Status.CREATE_FAILED.value, str(exc)
    if status != Status.ACTIVE.value:
        run.failures.update(dict.fromkeys(users, f"batch inference {status}: {reason}"))
        run.summary.errors["BatchInference"] = len(users)
        return
    answered: set[str] = set()
    parsed = (parse_batch_line(line) for line in store.get_bytes(f"{output}users.jsonl.out").splitlines())

    def build(entry: BatchLine) -> tuple[str | None, FeedWrite | str | None]:
        uid, ranked, error = entry
        if uid is None or ranked is None:
            return uid, f"batch inference: {error}"
        return uid, run.personalized(uid, ranked)

    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="feed-batch") as pool:
        for uid, result in bounded_map(pool, build, parsed, config.concurrency * 4):
            if uid is None:
                continue
            answered.add(uid)
            if isinstance(result, str):
                run.failures[uid] = result
            else:
                writer.add(result)
    for uid in users:
        if uid not in answered:
            run.failures[uid] = "batch inference: no output line"


MAX_ATTEMPTS = 5
"""Jobs one tick starts at most: a rerun after a failed job starts the next attempt."""


def start_attempt(deps: FeedDeps, request: Callable[[int], BatchInferenceRequest]) -> tuple[str, str]:
    """(job ARN, output key prefix) of the tick's job: the first attempt whose job has not failed.

    Job names are deterministic, so a second delivery of the same tick finds the job the first started
    (running or done) instead of paying for another; a failed one is not reused: the next attempt
    (``<name>-2``, output under ``output/attempt-2/``) starts fresh.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job = request(attempt)
        arn = deps.recommender.start_batch_inference(job)
        if attempt == MAX_ATTEMPTS or not deps.recommender.describe_batch_inference_job(arn).status.failed:
            return arn, job.output_uri.split("/", 3)[3]
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns


def await_batch(deps: FeedDeps, job_arn: str) -> tuple[str, str | None]:
    """(status, failure reason) once the job settles, or as it was when the batch timeout ran out."""
    seen: list[BatchInferenceJob] = []

    def poll() -> BatchInferenceJob:
        seen.append(deps.recommender.describe_batch_inference_job(job_arn))
        return seen[-1]

    try:
        job = wait_until(
            poll,
            lambda j: j.status.settled,
            timeout=deps.config.batch_timeout_seconds,
            interval=deps.batch_poll_seconds,
            max_interval=deps.batch_poll_seconds,
            what=f"batch inference job {job_arn}",
            sleep=deps.sleep,
            monotonic=deps.monotonic,
        )
    except NotReady:
        job = seen[-1]
    return job.status.value, job.failure_reason


def parse_batch_line(line: bytes) -> BatchLine:
    """One line of the job's output: ``{"input": {...}, "output": {...}, "error": ...}``."""
    try:
        record = json.loads(line)
        query = record.get("input")
        if isinstance(query, str):
            query = json.loads(query)
        uid = query.get("userId") if isinstance(query, dict) else None
    except (ValueError, AttributeError):
        return None, None, None
    if not isinstance(uid, str):
        return None, None, None
    output = record.get("output")
    if record.get("error") or not isinstance(output, dict):
        return uid, None, str(record.get("error"))
    return uid, recommendations_from_output(output), None


def recommendations_from_output(output: Mapping[str, object]) -> Recommendations:
    """The answer in one batch output's ``output`` object (batch answers carry no recommendation id)."""
    items = output.get("recommendedItems") or []
    scores = output.get("scores") or []
    ids = [str(i) for i in items] if isinstance(items, Sequence) else []
    values = [float(s) if isinstance(s, int | float) else None for s in scores] if isinstance(scores, Sequence) else []
    padded = values + [None] * (len(ids) - len(values))
    return Recommendations(tuple(Recommendation(i, s) for i, s in zip(ids, padded, strict=False)))
