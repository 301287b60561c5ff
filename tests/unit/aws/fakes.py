"""The in-memory PersonalizePort: for the monitor's and the planner's unit tests (states the engine cannot reach
on demand: a version stuck for a day, a campaign update that failed) and for the feed tests (a fixed ranking,
failures on demand, batch inference over an in-memory bucket)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from shared.errors import NotFound, StoryrecError
from shared.personalize.model import (
    BatchInferenceJob,
    BatchInferenceRequest,
    Campaign,
    CampaignUpdate,
    ImportJob,
    ImportRequest,
    MetricAttributionSpec,
    Recommendation,
    Recommendations,
    SolutionSpec,
    SolutionVersion,
    Status,
    Throttled,
    TrainingMode,
)
from shared.ports import ObjectStore

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"


class FakePersonalize:
    """Ranks every user's items by ``order`` (or ``per_user``); ``fail``/``fail_times`` make it fail."""

    def __init__(self, now: datetime, order: list[str] | None = None, batch_store: ObjectStore | None = None) -> None:
        self.now = now
        self.arns: dict[tuple[str, str], str] = {}
        self.attributions: dict[str, MetricAttributionSpec] = {}
        self.jobs: dict[str, list[ImportJob]] = {}
        self.versions: dict[str, list[SolutionVersion]] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.updates: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        # serving
        self.order = order or []
        self.per_user: dict[str, list[str]] = {}
        self.fail: StoryrecError | None = None
        self.fail_times = 0
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.filters: dict[str, str] = {}
        self.batch_store = batch_store
        self.batches: list[BatchInferenceRequest] = []
        self.schema_json: dict[str, str] = {}
        self.dataset_schema: dict[str, str] = {}
        self._lock = threading.Lock()

    def _ensure(self, kind: str, name: str) -> str:
        return self.arns.setdefault((kind, name), f"{ACCOUNT}:{kind}/{name}")

    def ensure_dataset_group(self, name: str) -> str:
        return self._ensure("dataset-group", name)

    def ensure_schema(self, name: str, schema_json: str) -> str:
        arn = self._ensure("schema", name)
        self.schema_json.setdefault(arn, schema_json)
        return arn

    def ensure_dataset(self, group_arn: str, dataset_type: str, schema_arn: str, name: str) -> str:
        arn = self._ensure("dataset", name)
        self.jobs.setdefault(arn, [])
        self.dataset_schema.setdefault(arn, schema_arn)
        return arn

    def dataset_columns(self, dataset_arn: str) -> tuple[str, ...]:
        text = self.schema_json[self.dataset_schema[dataset_arn]]
        return tuple(f["name"] for f in json.loads(text)["fields"])

    def dataset_status(self, dataset_arn: str) -> Status:
        return Status.ACTIVE

    def ensure_solution(self, spec: SolutionSpec) -> str:
        arn = self._ensure("solution", spec.name)
        self.versions.setdefault(arn, [])
        return arn

    def ensure_campaign(self, name: str, solution_version_arn: str, min_tps: int) -> str:
        arn = self._ensure("campaign", name)
        self.campaigns.setdefault(arn, Campaign(arn, name, Status.ACTIVE, solution_version_arn))
        return arn

    def ensure_filter(self, group_arn: str, name: str, expression: str) -> str:
        self.filters.setdefault(name, expression)
        return self._ensure("filter", name)

    def ensure_metric_attribution(self, spec: MetricAttributionSpec) -> str:
        self.attributions[spec.name] = spec
        return self._ensure("metric-attribution", spec.name)

    def filter_status(self, filter_arn: str) -> Status:
        return Status.ACTIVE

    def find_arn(self, kind: str, name: str, parent_arn: str | None = None) -> str | None:
        return self.arns.get((kind.replace("_", "-"), name))

    def list_arns(self, kind: str, parent_arn: str | None = None) -> list[str]:
        raise NotImplementedError("the fake keeps no parents: cleanup is tested on the local engine")

    def delete(self, kind: str, arn: str) -> None:
        raise NotImplementedError("the fake keeps no parents: cleanup is tested on the local engine")

    def start_import(self, request: ImportRequest) -> str:
        arn = f"{ACCOUNT}:dataset-import-job/{request.job_name}"
        jobs = self.jobs[request.dataset_arn]
        if all(j.name != request.job_name for j in jobs):
            jobs.append(ImportJob(arn, request.job_name, Status.CREATE_PENDING, self.now, None, request.mode))
        return arn

    def list_import_jobs(self, dataset_arn: str) -> list[ImportJob]:
        return list(self.jobs.get(dataset_arn, []))

    def describe_import_job(self, arn: str) -> ImportJob:
        return next(j for js in self.jobs.values() for j in js if j.arn == arn)

    def create_solution_version(self, solution_arn: str, name: str, mode: TrainingMode = "FULL") -> str:
        n = next(self._ids)
        arn = f"{solution_arn}/{n:04d}"
        created = self.now + timedelta(microseconds=n)  # distinct, in creation order, as Personalize's timestamps
        self.versions[solution_arn].insert(0, SolutionVersion(arn, Status.CREATE_PENDING, solution_arn, name, created))
        return arn

    def list_solution_versions(self, solution_arn: str) -> list[SolutionVersion]:
        return list(self.versions.get(solution_arn, []))

    def describe_solution_version(self, arn: str) -> SolutionVersion:
        return next(v for vs in self.versions.values() for v in vs if v.arn == arn)

    def solution_metrics(self, solution_version_arn: str) -> dict[str, float]:
        return dict(self.metrics[solution_version_arn])

    def describe_campaign(self, arn: str) -> Campaign:
        if arn not in self.campaigns:
            raise NotFound(arn)
        return self.campaigns[arn]

    def update_campaign(self, campaign_arn: str, solution_version_arn: str) -> None:
        self.updates.append((campaign_arn, solution_version_arn))
        campaign = self.campaigns[campaign_arn]
        self.campaigns[campaign_arn] = replace(
            campaign, latest_update=CampaignUpdate(solution_version_arn, Status.UPDATE_PENDING, None, self.now)
        )

    def get_recommendations(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int = 25,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> Recommendations:
        with self._lock:
            self.calls.append((user_id, dict(filter_values or {})))
            if self.fail_times:
                self.fail_times -= 1
                raise Throttled("ThrottlingException", "slow down")
        if self.fail is not None:
            raise self.fail
        items = self.per_user.get(user_id, self.order)[:num_results]
        ranked = tuple(Recommendation(item, 1.0 - i / 100) for i, item in enumerate(items))
        return Recommendations(ranked, f"rid-{user_id}")

    def start_batch_inference(self, request: BatchInferenceRequest) -> str:
        """Answers at once: the output lines are in the bucket when this returns."""
        assert self.batch_store is not None
        self.batches.append(request)
        key = request.input_uri.split("/", 3)[3]
        out = []
        for line in self.batch_store.get_bytes(key).decode().splitlines():
            query = json.loads(line)
            items = self.per_user.get(query["userId"], self.order)[: request.num_results]
            output = {"recommendedItems": items, "scores": [0.5] * len(items)}
            out.append(json.dumps({"input": query, "output": output, "error": None}))
        out_key = request.output_uri.split("/", 3)[3] + key.rsplit("/", 1)[1] + ".out"
        self.batch_store.put_bytes(out_key, "\n".join(out).encode())
        return f"{ACCOUNT}:batch-inference-job/{request.job_name}"

    def describe_batch_inference_job(self, arn: str) -> BatchInferenceJob:
        return BatchInferenceJob(arn, Status.ACTIVE)

    # test helpers
    def set_version(
        self,
        arn: str,
        status: Status,
        metrics: dict[str, float] | None = None,
        created: datetime | None = None,
        reason: str | None = None,
    ) -> None:
        for _solution, versions in self.versions.items():
            for i, v in enumerate(versions):
                if v.arn == arn:
                    versions[i] = replace(v, status=status, failure_reason=reason, created=created or v.created)
        if metrics is not None:
            self.metrics[arn] = metrics
