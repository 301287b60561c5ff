"""Background work: dataset imports, training and batch inference, run on one worker thread."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from infra.local.personalize import attribution, injected
from infra.local.personalize import filters as filter_expr
from infra.local.personalize import schema as schemas
from infra.local.personalize.autoupdate import AutoUpdates, exploration, explored
from infra.local.personalize.data import TrainingConfig, canonical_order, config_from_solution, encode_ids, top_n
from infra.local.personalize.errors import PersonalizeError
from infra.local.personalize.hpo import HpoConfigError
from infra.local.personalize.metrics import evaluate
from infra.local.personalize.recipes import PLAIN_COMPONENTS, Model, factors_only, fit
from infra.local.personalize.store import Store
from infra.local.personalize.training import WARM_START_MAX_HELD_OUT, train

log = logging.getLogger(__name__)
MIN_INTERACTIONS = 1000
MIN_USERS = 25
# Below this many interactions a second blend search and ALS fit cost seconds: the final model is trained anew.
REUSE_MIN_ROWS = 1_000_000
METRICS_SEED = 42


class TrainingFailed(Exception):
    """Training cannot run on this data; the message becomes failureReason."""


def training_rows(interactions: pd.DataFrame) -> pd.DataFrame:
    """The dataset's interactions as training reads them: encoded, in one canonical order, minimums checked."""
    rows = canonical_order(encode_ids(interactions))
    check_minimums(rows)
    return rows


@dataclass
class Evaluated:
    """Trains the model GetSolutionMetrics scores, and then the final model on all the rows.

    On large data (at least ``REUSE_MIN_ROWS`` rows, of which the metrics split held out at most
    ``WARM_START_MAX_HELD_OUT``) the final model keeps the evaluated model's settings and blend, chosen
    on validation data, and its ALS starts from the evaluated model's factors, instead of a second
    search and a second ALS fit from scratch: the metrics then describe the blend that is served, and
    the two trainings would differ by under 1% of the rows. Smaller data trains the final model anew.
    """

    items: pd.DataFrame | None
    config: TrainingConfig
    model: Model | None = None
    rows: int = 0

    def train(self, interactions: pd.DataFrame) -> Model:
        self.model, self.rows = train(interactions, self.items, self.config), len(interactions)
        return self.model

    def final_model(self, interactions: pd.DataFrame) -> Model:
        evaluated = self.model
        held_out = len(interactions) - self.rows
        if (
            evaluated is None
            or len(interactions) < REUSE_MIN_ROWS
            or held_out > WARM_START_MAX_HELD_OUT * len(interactions)
        ):
            return train(interactions, self.items, self.config)
        # Only the factors are read: the evaluated model's history and parts are freed before the fit.
        plain = any(evaluated.weights.get(c, 0.0) for c in PLAIN_COMPONENTS)
        self.model = evaluated = factors_only(evaluated, plain)
        model = fit(interactions, self.items, evaluated.config, evaluated.weights, warm_start=evaluated)
        model.tuned_params = dict(evaluated.tuned_params)
        log.info("final model reuses the evaluated blend", extra={"held_out_rows": held_out, "weights": model.weights})
        return model


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"Not an S3 URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def read_s3_csvs(location: str) -> list[tuple[str, bytes]]:
    """One object, or every ``.csv`` under a prefix ending in ``/``."""
    bucket, key = split_s3(location)
    s3 = s3_client()
    if not key.endswith("/"):
        return [(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read())]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(".csv")]
    if not keys:
        raise schemas.ImportFailed(f"No CSV files found under {location}.")
    return [(k, s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in sorted(keys)]


class Worker:
    """Runs jobs one at a time in the background and moves their statuses along."""

    def __init__(self, store: Store, updates: AutoUpdates | None = None) -> None:
        self.store = store
        self.updates = updates or AutoUpdates(store)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="personalize-worker")

    def submit(self, fn: Callable[..., object], *args: Any) -> Future[None]:
        return self.pool.submit(self._guard, fn, *args)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _guard(fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("background job crashed", extra={"job": getattr(fn, "__name__", "?")})

    def run_import(self, job_arn: str) -> None:
        """Read the CSV(s), validate against the schema, merge into the dataset."""
        store = self.store
        job = store.update("datasetImportJobs", job_arn, status="CREATE IN_PROGRESS")
        dataset = store.get("datasets", job["datasetArn"])
        fields = schemas.parse_schema(store.get("schemas", dataset["schemaArn"])["schema"])
        try:
            frames = [schemas.read_csv(body, fields) for _, body in read_s3_csvs(job["dataSource"]["dataLocation"])]
        except schemas.ImportFailed as exc:
            self._fail_import(job_arn, str(exc))
            return
        except Exception as exc:  # S3 errors (missing bucket/key) fail the job, not the server
            self._fail_import(job_arn, f"Unable to read {job['dataSource']['dataLocation']}: {exc}")
            return
        new = pd.concat(frames, ignore_index=True)
        full = job.get("importMode", "FULL") == "FULL"
        self.updates.catch_up(dataset["datasetGroupArn"])  # a due automatic update never sees this import
        merged = schemas.merge(store.frame(dataset["datasetArn"]), new, dataset["datasetType"], full)
        store.set_frame(dataset["datasetArn"], merged)
        try:
            attribution.publish(store, job, dataset, new, s3_client)
        except Exception:  # the report is a side product: its failure does not undo the import
            log.exception("attribution report failed", extra={"job": job_arn})
        store.update("datasetImportJobs", job_arn, status="ACTIVE")
        log.info("import done", extra={"job": job_arn, "rows": len(new), "total": len(merged)})

    def _fail_import(self, job_arn: str, reason: str) -> None:
        self.store.update("datasetImportJobs", job_arn, status="CREATE FAILED", failureReason=reason)
        log.info("import failed", extra={"job": job_arn, "reason": reason})

    def run_training(self, version_arn: str) -> None:
        """Check data minimums, compute offline metrics, then train the final model on all data."""
        store = self.store
        version = store.update("solutionVersions", version_arn, status="CREATE IN_PROGRESS")
        started = time.monotonic()
        solution = str(version.get("solutionArn", "")).rsplit("/", 1)[-1]
        try:
            if injected.take(store.root, solution, ("fail",)):  # test-only (the file is absent otherwise)
                raise TrainingFailed("Injected fault: the training job failed (local engine, injected-faults.json).")
            with phase("training data", version_arn):
                interactions, items = self._training_data(version["datasetGroupArn"])
            config = config_from_solution(version)
            with phase("metrics", version_arn):
                evaluated = Evaluated(items, config)
                metrics = evaluate(interactions, evaluated.train, seed=METRICS_SEED)
            with phase("final model", version_arn):
                model = evaluated.final_model(interactions)
        except (TrainingFailed, HpoConfigError) as exc:
            store.update("solutionVersions", version_arn, status="CREATE FAILED", failureReason=str(exc))
            return
        with phase("persist model", version_arn):
            store.set_model(version_arn, model)
        hours = (time.monotonic() - started) / 3600
        tuned = {}
        if model.tuned_params:
            params = {k: _hyperparameter_text(v) for k, v in model.tuned_params.items()}
            tuned = {"tunedHPOParams": {"algorithmHyperParameters": params}}
        metrics = injected.apply_to_metrics(injected.take(store.root, solution, injected.METRIC_FAULTS), metrics)
        trained = self.updates.clock.now()  # automatic updates count their two hours from here (autoupdate.py)
        store.update(
            "solutionVersions",
            version_arn,
            status="ACTIVE",
            trainingHours=hours,
            _metrics=metrics,
            _trainedAt=trained,
            **tuned,
        )
        log.info("training done", extra={"version": version_arn, "metrics": metrics})

    def _training_data(self, group_arn: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        store = self.store
        frames = {
            d["datasetType"]: store.frame(d["datasetArn"]) for d in store.find("datasets", datasetGroupArn=group_arn)
        }
        interactions = frames.get("Interactions")
        if interactions is None or not len(interactions):
            raise TrainingFailed("The dataset group has no interactions data.")
        return training_rows(interactions), frames.get("Items")

    def run_batch(self, job_arn: str) -> None:
        """Answer every JSON line of the input file and write ``<input name>.out`` to the output path."""
        store = self.store
        job = store.update("batchInferenceJobs", job_arn, status="CREATE IN_PROGRESS")
        try:
            model = self.batch_model(job)
            clauses = None
            if job.get("filterArn"):
                clauses = filter_expr.parse(store.get("filters", job["filterArn"])["filterExpression"])
            in_bucket, in_key = split_s3(job["jobInput"]["s3DataSource"]["path"])
            out_bucket, out_prefix = split_s3(job["jobOutput"]["s3DataDestination"]["path"])
            s3 = s3_client()
            lines = s3.get_object(Bucket=in_bucket, Key=in_key)["Body"].read().decode().splitlines()
            answers = [
                batch_line(model, line, int(job.get("numResults") or 25), clauses) for line in lines if line.strip()
            ]
            out_key = out_prefix.rstrip("/") + "/" + in_key.rsplit("/", 1)[-1] + ".out"
            s3.put_object(Bucket=out_bucket, Key=out_key.lstrip("/"), Body="\n".join(answers).encode())
        except Exception as exc:
            store.update("batchInferenceJobs", job_arn, status="CREATE FAILED", failureReason=str(exc))
            return
        store.update("batchInferenceJobs", job_arn, status="ACTIVE")

    def batch_model(self, job: dict[str, Any]) -> Model:
        """The job's version as trained (a batch job takes no automatic update, as Personalize's), its cold
        items explored by the job's ``batchInferenceJobConfig`` (Personalize's defaults without one)."""
        return explored(self.store.model(job["solutionVersionArn"]), exploration(job.get("batchInferenceJobConfig")))


@contextmanager
def phase(name: str, version_arn: str) -> Iterator[None]:
    """Log how long one step of a solution version took (wall and this process's CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    log.info(
        "training phase",
        extra={
            "version": version_arn,
            "phase": name,
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
        },
    )


def _hyperparameter_text(value: float | str) -> str:
    """Personalize reports hyperparameters as strings: ``64``, ``0.3`` (a name stays as it is)."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_minimums(interactions: pd.DataFrame) -> None:
    """Personalize's floor: 1,000 interactions and 25 users with at least 2 interactions each."""
    if len(interactions) < MIN_INTERACTIONS:
        raise TrainingFailed(
            f"Insufficient data: {len(interactions)} interactions; at least {MIN_INTERACTIONS} are required."
        )
    per_user = interactions.groupby("USER_ID", observed=True).size()
    active = int((per_user >= 2).sum())
    if active < MIN_USERS:
        raise TrainingFailed(
            f"Insufficient data: {active} users with at least 2 interactions; at least {MIN_USERS} are required."
        )


def batch_line(model: Model, line: str, n: int, clauses: list[filter_expr.Clause] | None = None) -> str:
    """One output line in Personalize's batch format (a line may carry its own ``filterValues``)."""
    try:
        query = json.loads(line)
        scores = model.score_item(query["itemId"]) if "itemId" in query else model.score_user(query.get("userId"))
        if scores is None:
            raise KeyError(f"unknown itemId {query['itemId']}")
        allowed = None
        if clauses:
            values = filter_expr.parse_filter_values(query.get("filterValues"))
            allowed = filter_expr.allowed_items(clauses, model, query.get("userId"), values)
        best = top_n(scores, n, allowed)
        output = {
            "recommendedItems": [str(model.item_ids[i]) for i in best],
            "scores": [float(scores[i]) for i in best],
        }
        return json.dumps({"input": query, "output": output, "error": None})
    except (ValueError, KeyError, TypeError, PersonalizeError) as exc:
        return json.dumps({"input": line, "output": None, "error": str(exc)})
