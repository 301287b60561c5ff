"""Control plane (``AmazonPersonalize.<Op>``): one method per operation, botocore shapes in and out."""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from infra.local.personalize import filters as filter_expr
from infra.local.personalize import schema as schemas
from infra.local.personalize.attribution import MetricAttributionOps
from infra.local.personalize.autoupdate import check_exploration
from infra.local.personalize.data import DEFAULT_RECIPE, RECIPE_PREFIX, recipe_name
from infra.local.personalize.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    UnknownOperationException,
)
from infra.local.personalize.hpo import HpoConfigError, parse_hpo_config
from infra.local.personalize.jobs import Worker
from infra.local.personalize.kinds import DESCRIBE, KINDS, LIST
from infra.local.personalize.recipes import RECIPES
from infra.local.personalize.store import Store, now

log = logging.getLogger(__name__)
ACCOUNT = "000000000000"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
MAX_PENDING_IMPORTS = 5
PENDING = ("CREATE PENDING", "CREATE IN_PROGRESS")


def public(record: dict[str, Any]) -> dict[str, Any]:
    """Drop the engine's private keys (leading underscore)."""
    snapshot = dict(record)  # one C-level copy: the worker thread may be updating the record
    return {k: v for k, v in snapshot.items() if not k.startswith("_")}


def required(body: dict[str, Any], key: str, kind: type = str) -> Any:
    """``body[key]``, which must be present, non-empty and of ``kind``."""
    value = body.get(key)
    if value in (None, "") or (isinstance(value, dict) and not value):
        raise InvalidInputException(f"Missing required parameter {key}.")
    if not isinstance(value, kind):
        raise InvalidInputException(f"Parameter {key} must be of type {kind.__name__}.")
    return value


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not NAME_RE.match(name):
        raise InvalidInputException(f"Invalid {what} {name!r}: 1-63 characters matching ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*.")
    return name


ID_SEED_VARIABLE = "STORYREC_ENGINE_ID_SEED"
"""A whole number makes solution version ids repeat from a fresh state (docs/local-personalize.md)."""


class ControlPlane(MetricAttributionOps):
    """The Personalize control-plane API over a Store and a background Worker."""

    def __init__(self, store: Store, worker: Worker, region: str = "us-east-1") -> None:
        self.store = store
        self.worker = worker
        self.region = region
        self._request = threading.local()  # the calling request's region (ARNs carry it)
        seed = os.environ.get(ID_SEED_VARIABLE, "")
        # Personalize's version ids are random; a seeded engine (the demo) repeats them run after run, so what
        # is keyed on a version (the online test's arm assignment) is the same in two runs on the same input
        self._ids = random.Random(int(seed)) if seed.isdigit() else None

    def _version_id(self) -> str:
        with self.store.lock:
            return f"{self._ids.getrandbits(32):08x}" if self._ids is not None else uuid.uuid4().hex[:8]

    def dispatch(self, operation: str, body: dict[str, Any], region: str | None = None) -> dict[str, Any]:
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(self, "op_" + operation, None)
        if handler is None and operation not in DESCRIBE and operation not in LIST:
            raise UnknownOperationException(f"Operation {operation} is not supported by the local engine.")
        self._request.region = region or self.region
        if operation in DESCRIBE:
            kind = DESCRIBE[operation]
            return {kind.describe_key: public(self.store.get(kind.name, required(body, kind.arn_key)))}
        if operation in LIST:
            kind = LIST[operation]
            parent = kind.list_parent
            return self._list(kind.name, body, kind.list_key, **({parent: body.get(parent)} if parent else {}))
        assert handler is not None
        return handler(body)

    @classmethod
    def operations(cls) -> list[str]:
        """Every control-plane operation the engine answers."""
        return sorted([n[3:] for n in dir(cls) if n.startswith("op_")] + [*DESCRIBE, *LIST])

    def arn(self, kind: str, *parts: str) -> str:
        region = getattr(self._request, "region", self.region)
        return f"arn:aws:personalize:{region}:{ACCOUNT}:{kind}/" + "/".join(parts)

    def _new(self, kind: str, arn: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:  # control calls run on a thread pool: check and insert as one step
            if arn in self.store.resources[kind]:
                raise ResourceAlreadyExistsException(f"Resource already exists: {arn}")
            stamp = now()
            record = {**record, "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
            self.store.put(kind, arn, record)
        return record

    def _list(self, kind: str, body: dict[str, Any], out_key: str, **match: Any) -> dict[str, Any]:
        match = {k: v for k, v in match.items() if v is not None}
        rows = sorted(self.store.find(kind, **match), key=lambda r: r["creationDateTime"], reverse=True)
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        if not 1 <= size <= 100:
            raise InvalidInputException("maxResults must be between 1 and 100.")
        keys = KINDS[kind].summary_keys
        page = [{k: r[k] for k in keys if r.get(k) is not None} for r in rows[start : start + size]]
        out: dict[str, Any] = {out_key: page}
        if start + size < len(rows):
            out["nextToken"] = str(start + size)
        return out

    # Schemas
    def op_CreateSchema(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        text = required(body, "schema")
        schemas.parse_schema(text)
        arn = self.arn("schema", name)
        self._new("schemas", arn, {"name": name, "schemaArn": arn, "schema": text, **_opt(body, "domain")})
        return {"schemaArn": arn}

    def op_DeleteSchema(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = required(body, "schemaArn")
        self.store.get("schemas", arn)
        if self.store.find("datasets", schemaArn=arn):
            raise ResourceInUseException(f"Schema {arn} is used by a dataset.")
        self.store.delete("schemas", arn)
        return {}

    # Dataset groups
    def op_CreateDatasetGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        arn = self.arn("dataset-group", name)
        extra = _opt(body, "roleArn", "kmsKeyArn", "domain")
        self._new("datasetGroups", arn, {"name": name, "datasetGroupArn": arn, "status": "ACTIVE", **extra})
        return {"datasetGroupArn": arn, **_opt(body, "domain")}

    def op_DeleteDatasetGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = required(body, "datasetGroupArn")
        self.store.get("datasetGroups", arn)
        for kind in ("datasets", "solutions", "filters", "metricAttributions"):
            if self.store.find(kind, datasetGroupArn=arn):
                raise ResourceInUseException(f"Dataset group {arn} still has {kind}; delete them first.")
        self.store.delete("datasetGroups", arn)
        return {}

    # Datasets
    def op_CreateDataset(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        group = self.store.get("datasetGroups", required(body, "datasetGroupArn"))
        schema = self.store.get("schemas", required(body, "schemaArn"))
        dataset_type = str(required(body, "datasetType")).capitalize()
        schemas.check_dataset_type(schemas.parse_schema(schema["schema"]), dataset_type)
        if self.store.find("datasets", datasetGroupArn=group["datasetGroupArn"], datasetType=dataset_type):
            raise ResourceAlreadyExistsException(f"The dataset group already has a {dataset_type} dataset.")
        arn = self.arn("dataset", group["name"], dataset_type.upper())
        record = {
            "name": name,
            "datasetArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "datasetType": dataset_type,
            "schemaArn": schema["schemaArn"],
            "status": "ACTIVE",
        }
        self._new("datasets", arn, record)
        return {"datasetArn": arn}

    def op_UpdateDataset(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace a dataset's schema: Items and Users only, as Personalize allows (an Interactions dataset's
        schema is fixed; a deployment that needs new interaction columns rebuilds: docs/deploy.md)."""
        arn = required(body, "datasetArn")
        dataset = self.store.get("datasets", arn)
        schema = self.store.get("schemas", required(body, "schemaArn"))
        if dataset["datasetType"] == "Interactions":
            raise InvalidInputException(
                f"The schema of an Interactions dataset cannot be updated: {arn}. "
                "Create a new dataset group (or dataset) with the new schema and import the data again."
            )
        schemas.check_dataset_type(schemas.parse_schema(schema["schema"]), dataset["datasetType"])
        self.store.update("datasets", arn, schemaArn=schema["schemaArn"], lastUpdatedDateTime=now())
        return {"datasetArn": arn}

    def op_DeleteDataset(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = required(body, "datasetArn")
        self.store.get("datasets", arn)
        if any(j["status"] in PENDING for j in self.store.find("datasetImportJobs", datasetArn=arn)):
            raise ResourceInUseException(f"Dataset {arn} has an import job in progress.")
        for job in self.store.find("datasetImportJobs", datasetArn=arn):  # a dataset's jobs go with it
            self.store.delete("datasetImportJobs", job["datasetImportJobArn"])
        self.store.delete("datasets", arn)
        self.store.drop_frame(arn)
        return {}

    # Dataset import jobs
    def op_CreateDatasetImportJob(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "jobName"), "jobName")
        dataset = self.store.get("datasets", required(body, "datasetArn"))
        location = required(required(body, "dataSource", dict), "dataLocation")
        if not str(location).startswith("s3://"):
            raise InvalidInputException(f"dataLocation must be an s3:// URI: {location}")
        mode = body.get("importMode", "FULL")
        if mode not in ("FULL", "INCREMENTAL"):
            raise InvalidInputException(f"Invalid importMode {mode!r}.")
        arn = self.arn("dataset-import-job", name)
        with self.store.lock:
            if arn in self.store.resources["datasetImportJobs"]:
                raise ResourceAlreadyExistsException(f"Dataset import job {name} already exists.")
            pending = [j for j in self.store.resources["datasetImportJobs"].values() if j["status"] in PENDING]
            if len(pending) >= MAX_PENDING_IMPORTS:
                raise LimitExceededException(f"At most {MAX_PENDING_IMPORTS} dataset import jobs may be pending.")
            record = {
                "jobName": name,
                "datasetImportJobArn": arn,
                "datasetArn": dataset["datasetArn"],
                "dataSource": {"dataLocation": location},
                "status": "CREATE PENDING",
                "importMode": mode,
                **_opt(body, "roleArn", "publishAttributionMetricsToS3"),
            }
            self._new("datasetImportJobs", arn, record)
        self.worker.submit(self.worker.run_import, arn)
        return {"datasetImportJobArn": arn}

    # Solutions
    def op_CreateSolution(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        group = self.store.get("datasetGroups", required(body, "datasetGroupArn"))
        recipe_arn = body.get("recipeArn") or RECIPE_PREFIX + DEFAULT_RECIPE
        if recipe_name(recipe_arn) not in RECIPES or not recipe_arn.startswith(RECIPE_PREFIX):
            raise InvalidInputException(f"Unsupported recipe {recipe_arn}; the local engine knows {list(RECIPES)}.")
        if body.get("performAutoML"):
            raise InvalidInputException("performAutoML is not supported by the local engine.")
        perform_hpo = bool(body.get("performHPO", False))
        config = body.get("solutionConfig") or {}
        if perform_hpo:
            if not RECIPES[recipe_name(recipe_arn)].tuned:
                raise InvalidInputException(f"performHPO is not supported by {recipe_name(recipe_arn)}.")
            try:
                parse_hpo_config(config.get("hpoConfig") or {})
            except HpoConfigError as exc:
                raise InvalidInputException(f"Invalid hpoConfig: {exc}") from exc
        _check_events_config(config)
        arn = self.arn("solution", name)
        record = {
            "name": name,
            "solutionArn": arn,
            "recipeArn": recipe_arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "status": "ACTIVE",
            "performHPO": perform_hpo,
            "performAutoML": False,
            "performAutoTraining": bool(body.get("performAutoTraining", True)),
            **_opt(body, "eventType", "solutionConfig", "performIncrementalUpdate"),
        }
        self._new("solutions", arn, record)
        return {"solutionArn": arn}

    def op_DescribeSolution(self, body: dict[str, Any]) -> dict[str, Any]:
        solution = public(self.store.get("solutions", required(body, "solutionArn")))
        versions = sorted(
            self.store.find("solutionVersions", solutionArn=solution["solutionArn"]),
            key=lambda v: v["creationDateTime"],
        )
        if versions:
            keys = KINDS["solutionVersions"].summary_keys
            solution["latestSolutionVersion"] = {k: versions[-1][k] for k in keys if versions[-1].get(k) is not None}
        return {"solution": solution}

    def op_DeleteSolution(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = required(body, "solutionArn")
        self.store.get("solutions", arn)
        versions = {v["solutionVersionArn"] for v in self.store.find("solutionVersions", solutionArn=arn)}
        if any(c["solutionVersionArn"] in versions for c in self.store.resources["campaigns"].values()):
            raise ResourceInUseException(f"Solution {arn} is used by a campaign.")
        if any(self.store.get("solutionVersions", v)["status"] in PENDING for v in versions):
            raise ResourceInUseException(f"Solution {arn} has a version in training.")
        for version in versions:
            self.store.delete("solutionVersions", version)
        self.store.delete("solutions", arn)
        return {}

    # Solution versions
    def op_CreateSolutionVersion(self, body: dict[str, Any]) -> dict[str, Any]:
        solution = self.store.get("solutions", required(body, "solutionArn"))
        mode = body.get("trainingMode", "FULL")
        if mode not in ("FULL", "UPDATE", "AUTOTRAIN"):
            raise InvalidInputException(f"Invalid trainingMode {mode!r}.")
        if mode == "UPDATE" and not RECIPES[recipe_name(solution["recipeArn"])].supports_update:
            raise InvalidInputException("trainingMode UPDATE is only supported by user-personalization recipes.")
        versions = self.store.find("solutionVersions", solutionArn=solution["solutionArn"])
        if any(v["status"] in PENDING for v in versions):
            raise ResourceInUseException(f"Solution {solution['solutionArn']} already has a version in training.")
        if mode == "UPDATE" and not any(v["status"] == "ACTIVE" for v in versions):
            raise InvalidInputException("trainingMode UPDATE needs an ACTIVE solution version trained with FULL.")
        arn = f"{solution['solutionArn']}/{self._version_id()}"
        record: dict[str, Any] = {
            "solutionVersionArn": arn,
            "solutionArn": solution["solutionArn"],
            "status": "CREATE PENDING",
            "trainingMode": mode,
            "trainingType": "MANUAL",
            **{
                k: solution[k] for k in ("recipeArn", "datasetGroupArn", "performHPO", "performAutoML") if k in solution
            },
            **_opt(solution, "eventType", "solutionConfig", "performIncrementalUpdate"),
            **_opt(body, "name"),
        }
        self._new("solutionVersions", arn, record)
        self.worker.submit(self.worker.run_training, arn)
        return {"solutionVersionArn": arn}

    def op_GetSolutionMetrics(self, body: dict[str, Any]) -> dict[str, Any]:
        version = self.store.get("solutionVersions", required(body, "solutionVersionArn"))
        if version["status"] != "ACTIVE":
            raise ResourceInUseException(f"Solution version {version['solutionVersionArn']} is {version['status']}.")
        return {"solutionVersionArn": version["solutionVersionArn"], "metrics": version.get("_metrics", {})}

    # Campaigns
    def op_CreateCampaign(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        version = self._active_version(required(body, "solutionVersionArn"))
        arn = self.arn("campaign", name)
        tps = int(body.get("minProvisionedTPS", 1))
        if tps < 1:
            raise InvalidInputException("minProvisionedTPS must be at least 1.")
        _check_campaign_config(body)
        record = {
            "name": name,
            "campaignArn": arn,
            "solutionVersionArn": version,
            "minProvisionedTPS": tps,
            "status": "CREATE PENDING",
            **_opt(body, "campaignConfig"),
        }
        self._new("campaigns", arn, record)
        self.worker.submit(self._deploy, arn, version, False)
        return {"campaignArn": arn}

    def _active_version(self, version_arn: str) -> str:
        version = self.store.get("solutionVersions", version_arn)
        if version["status"] != "ACTIVE":
            raise ResourceInUseException(f"Solution version {version_arn} is {version['status']}, not ACTIVE.")
        return version_arn

    def _deploy(self, campaign_arn: str, version_arn: str, is_update: bool) -> None:
        """Load the model (warms the cache) then mark the campaign, or its update, ACTIVE."""
        try:
            self.store.model(version_arn)
        except Exception as exc:
            self._finish_campaign(campaign_arn, is_update, "CREATE FAILED", str(exc))
            return
        self._finish_campaign(campaign_arn, is_update, "ACTIVE", None)

    def _finish_campaign(self, arn: str, is_update: bool, status: str, reason: str | None) -> None:
        with self.store.lock:
            campaign = self.store.resources["campaigns"].get(arn)
            if campaign is None:
                return
            if not is_update:
                self.store.update("campaigns", arn, status=status, **({"failureReason": reason} if reason else {}))
                return
            update = dict(campaign.get("_update", {}), status=status if status == "ACTIVE" else "UPDATE FAILED")
            changes: dict[str, Any] = {"_update": update}
            if status == "ACTIVE":
                changes.update(
                    {k: update[k] for k in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig") if k in update}
                )
            self.store.update("campaigns", arn, **changes)

    def op_UpdateCampaign(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = required(body, "campaignArn")
        campaign = self.store.get("campaigns", arn)
        if campaign["status"] != "ACTIVE" or campaign.get("_update", {}).get("status") == "UPDATE PENDING":
            raise ResourceInUseException(f"Campaign {arn} is not ACTIVE or has an update pending.")
        version = self._active_version(body.get("solutionVersionArn") or campaign["solutionVersionArn"])
        _check_campaign_config(body)
        stamp = now()
        update = {
            "solutionVersionArn": version,
            "minProvisionedTPS": int(body.get("minProvisionedTPS", campaign["minProvisionedTPS"])),
            "status": "UPDATE PENDING",
            "creationDateTime": stamp,
            "lastUpdatedDateTime": stamp,
            **_opt(body, "campaignConfig"),
        }
        self.store.update("campaigns", arn, _update=update)
        self.worker.submit(self._deploy, arn, version, True)
        return {"campaignArn": arn}

    def op_DescribeCampaign(self, body: dict[str, Any]) -> dict[str, Any]:
        campaign = self.store.get("campaigns", required(body, "campaignArn"))
        out = public(campaign)
        if "_update" in campaign:
            out["latestCampaignUpdate"] = campaign["_update"]
        return {"campaign": out}

    def op_ListCampaigns(self, body: dict[str, Any]) -> dict[str, Any]:
        solution = body.get("solutionArn")
        out = self._list("campaigns", body, "campaigns")
        if solution:
            arns = {
                c["campaignArn"]
                for c in self.store.resources["campaigns"].values()
                if c["solutionVersionArn"].startswith(solution + "/")
            }
            out["campaigns"] = [c for c in out["campaigns"] if c["campaignArn"] in arns]
        return out

    def op_DeleteCampaign(self, body: dict[str, Any]) -> dict[str, Any]:
        self.store.delete("campaigns", required(body, "campaignArn"))
        return {}

    # Filters
    def op_CreateFilter(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "name"))
        group = self.store.get("datasetGroups", required(body, "datasetGroupArn"))
        expression = required(body, "filterExpression")
        filter_expr.parse(expression)
        arn = self.arn("filter", name)
        record = {
            "name": name,
            "filterArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "filterExpression": expression,
            "status": "ACTIVE",
        }
        self._new("filters", arn, record)
        return {"filterArn": arn}

    def op_DeleteFilter(self, body: dict[str, Any]) -> dict[str, Any]:
        self.store.delete("filters", required(body, "filterArn"))
        return {}

    # Batch inference
    def op_CreateBatchInferenceJob(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(required(body, "jobName"), "jobName")
        version = self._active_version(required(body, "solutionVersionArn"))
        source = required(required(body, "jobInput", dict), "s3DataSource", dict)
        dest = required(required(body, "jobOutput", dict), "s3DataDestination", dict)
        for path in (required(source, "path"), required(dest, "path")):
            if not str(path).startswith("s3://"):
                raise InvalidInputException(f"Not an s3:// path: {path}")
        num = int(body.get("numResults", 25))
        if not 1 <= num <= 500:
            raise InvalidInputException("numResults must be between 1 and 500.")
        if body.get("filterArn"):
            self.store.get("filters", body["filterArn"])
        reason = check_exploration(body.get("batchInferenceJobConfig"))
        if reason:
            raise InvalidInputException(f"Invalid batchInferenceJobConfig: {reason}")
        arn = self.arn("batch-inference-job", name)
        record = {
            "jobName": name,
            "batchInferenceJobArn": arn,
            "solutionVersionArn": version,
            "numResults": num,
            "jobInput": body["jobInput"],
            "jobOutput": body["jobOutput"],
            "roleArn": required(body, "roleArn"),
            "status": "CREATE PENDING",
            "batchInferenceJobMode": body.get("batchInferenceJobMode", "BATCH_INFERENCE"),
            **_opt(body, "filterArn", "batchInferenceJobConfig"),
        }
        self._new("batchInferenceJobs", arn, record)
        self.worker.submit(self.worker.run_batch, arn)
        return {"batchInferenceJobArn": arn}

    def resume(self) -> None:
        """After a restart, re-queue work that was pending when the engine stopped."""
        for kind in KINDS.values():
            if kind.resume:
                for arn, record in list(self.store.resources[kind.name].items()):
                    getattr(self, kind.resume)(arn, record)

    def resume_import(self, arn: str, record: dict[str, Any]) -> None:
        if record["status"] in PENDING:
            self.worker.submit(self.worker.run_import, arn)

    def resume_training(self, arn: str, record: dict[str, Any]) -> None:
        if record["status"] in PENDING:
            self.worker.submit(self.worker.run_training, arn)

    def resume_batch(self, arn: str, record: dict[str, Any]) -> None:
        if record["status"] in PENDING:
            self.worker.submit(self.worker.run_batch, arn)

    def resume_campaign(self, arn: str, campaign: dict[str, Any]) -> None:
        if campaign["status"] in PENDING:
            self.worker.submit(self._deploy, arn, campaign["solutionVersionArn"], False)
        elif campaign.get("_update", {}).get("status") == "UPDATE PENDING":
            self.worker.submit(self._deploy, arn, campaign["_update"]["solutionVersionArn"], True)


def _opt(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: body[k] for k in keys if body.get(k) is not None}


def _check_campaign_config(body: dict[str, Any]) -> None:
    reason = check_exploration(body.get("campaignConfig"))
    if reason:
        raise InvalidInputException(f"Invalid campaignConfig: {reason}")


def _check_events_config(config: dict[str, Any]) -> None:
    for param in (config.get("eventsConfig") or {}).get("eventParametersList", []):
        weight = param.get("weight", 1.0)
        if not param.get("eventType") or not 0.0 <= float(weight) <= 1.0:
            raise InvalidInputException("Each event parameter needs an eventType and a weight between 0 and 1.")
