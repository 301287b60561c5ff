"""Metric attributions: the control-plane operations and the per-source report a bulk import writes.

As Personalize documents them: at most one metric attribution per dataset group, 1-10 metrics, each
an event type and ``SAMPLECOUNT()`` or ``SUM(<dataset>.<numeric column>)`` (``Interactions`` or
``Items``; ``DatasetType.INTERACTIONS.EVENT_VALUE`` is accepted too). An interactions import created
with ``publishAttributionMetricsToS3`` writes ``AggregatedAttributionMetrics-<mode>-<ms>.csv`` under the
attribution's ``s3DataDestination.path``: one row per metric, source and 15-minute window of the rows
that import brought (``METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP``).

A row's source is its ``EVENT_ATTRIBUTION_SOURCE`` when given (it wins over a recommendation ID), else
the campaign that issued its ``RECOMMENDATION_ID``, else ``SOURCE_NAME_UNDEFINED``. The engine knows
which campaign issued a recommendation ID because the ID carries a short hash of the campaign's ARN
(:func:`recommendation_id`): nothing is stored per request, and it survives a restart.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from infra.local.personalize import schema as schemas
from infra.local.personalize.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from infra.local.personalize.store import Store, now

log = logging.getLogger(__name__)

MAX_METRICS = 10
MAX_TEXT = 256
WINDOW_SECONDS = 900
UNDEFINED = "SOURCE_NAME_UNDEFINED"
REPORT_COLUMNS = ("METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION", "EVENT_ATTRIBUTION_SOURCE", "TIMESTAMP")
REPORT_PREFIX = "AggregatedAttributionMetrics"
# A new or updated metric attribution is pending this long, then ACTIVE (read lazily: no worker needed).
SETTLE_SECONDS = 0.2
KIND = "metricAttributions"
_EXPRESSION = re.compile(
    r"^\s*(?:(?P<count>SAMPLECOUNT)\s*\(\s*\)|SUM\s*\(\s*(?:DATASETTYPE\.)?(?P<dataset>INTERACTIONS|ITEMS)\.(?P<column>[A-Z0-9_]+)\s*\))\s*$",
    re.IGNORECASE,
)
_NUMERIC = {"int", "long", "float", "double"}
_ROLE = re.compile(r"^arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")


@dataclass(frozen=True)
class Metric:
    """One parsed metric: ``SAMPLECOUNT()`` (column None) or ``SUM(dataset.column)``."""

    name: str
    event_type: str
    function: str  # "samplecount" | "sum"
    dataset: str | None = None  # "Interactions" | "Items"
    column: str | None = None


def parse_metric(raw: Any) -> Metric:
    """A metric attribute as CreateMetricAttribution takes it, or InvalidInputException."""
    if not isinstance(raw, dict):
        raise InvalidInputException(f"Invalid metric {raw!r}.")
    fields = {}
    for key in ("eventType", "metricName", "expression"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise InvalidInputException(f"Each metric needs a {key} of 1-{MAX_TEXT} characters.")
        fields[key] = value
    match = _EXPRESSION.match(fields["expression"])
    if match is None:
        raise InvalidInputException(
            f"Invalid expression {fields['expression']!r}: "
            "use SAMPLECOUNT() or SUM(Interactions.COLUMN) / SUM(Items.COLUMN)."
        )
    if match.group("count"):
        return Metric(fields["metricName"], fields["eventType"], "samplecount")
    dataset = match.group("dataset").capitalize()
    return Metric(fields["metricName"], fields["eventType"], "sum", dataset, match.group("column").upper())


def check_output(config: Any) -> dict[str, Any]:
    """metricsOutputConfig: a role ARN and, optionally, an s3:// destination."""
    if not isinstance(config, dict) or not config:
        raise InvalidInputException("Missing required parameter metricsOutputConfig.")
    role = config.get("roleArn")
    if not isinstance(role, str) or not _ROLE.match(role):
        raise InvalidInputException(f"metricsOutputConfig.roleArn must be an IAM role ARN, got {role!r}.")
    dest = config.get("s3DataDestination")
    if dest is not None:
        path = dest.get("path") if isinstance(dest, dict) else None
        if not isinstance(path, str) or not path.startswith("s3://") or len(path) <= 5:
            raise InvalidInputException(f"s3DataDestination.path must be an s3:// path, got {path!r}.")
    return config


@lru_cache(maxsize=1024)
def campaign_code(campaign_arn: str) -> str:
    """The short hash of a campaign ARN that its recommendation IDs carry."""
    return hashlib.sha1(campaign_arn.encode()).hexdigest()[:10]


_PROCESS = uuid.uuid4().hex[:8]
_COUNTER = itertools.count()


def recommendation_id(campaign_arn: str) -> str:
    """``RID-<campaign code>-<process>-<counter>``: unique per request, resolvable to its campaign."""
    return f"RID-{campaign_code(campaign_arn)}-{_PROCESS}-{next(_COUNTER):08x}"


def campaign_of(rid: str, campaigns: dict[str, str]) -> str | None:
    """The campaign ARN a recommendation ID came from (``campaigns``: code -> ARN), or None."""
    parts = rid.split("-")
    return campaigns.get(parts[1]) if len(parts) == 4 and parts[0] == "RID" else None


def sources(rows: pd.DataFrame, campaigns: dict[str, str]) -> pd.Series:
    """Each row's attribution source: EVENT_ATTRIBUTION_SOURCE, else the RECOMMENDATION_ID's campaign."""
    out = pd.Series(UNDEFINED, index=rows.index, dtype=object)
    if "RECOMMENDATION_ID" in rows:
        rid = rows["RECOMMENDATION_ID"]
        given = rid.notna()
        out[given] = [campaign_of(str(r), campaigns) or UNDEFINED for r in rid[given]]
    if "EVENT_ATTRIBUTION_SOURCE" in rows:
        source = rows["EVENT_ATTRIBUTION_SOURCE"]
        named = source.notna() & (source.astype(str).str.strip() != "")
        out[named] = source[named].astype(str)
    return out


def report(
    rows: pd.DataFrame, items: pd.DataFrame | None, metrics: list[Metric], campaigns: dict[str, str]
) -> pd.DataFrame:
    """The per-source report of ``rows`` (one import's interactions): one row per metric, source, window."""
    frames = []
    if len(rows):
        source = sources(rows, campaigns)
        window = (rows["TIMESTAMP"].to_numpy(dtype=np.int64) // WINDOW_SECONDS) * WINDOW_SECONDS
        etype = rows["EVENT_TYPE"].astype(str) if "EVENT_TYPE" in rows else pd.Series("", index=rows.index)
        for metric in metrics:
            chosen = (etype == metric.event_type).to_numpy()
            if not chosen.any():
                continue
            values = _values(rows, items, metric)
            part = pd.DataFrame({"source": source[chosen], "window": window[chosen], "value": values[chosen]})
            grouped = part.groupby(["source", "window"], sort=True)["value"]
            agg = grouped.size() if metric.function == "samplecount" else grouped.sum(min_count=0)
            frames.append(
                pd.DataFrame(
                    {
                        "METRIC_NAME": metric.name,
                        "EVENT_TYPE": metric.event_type,
                        "VALUE": agg.to_numpy(dtype=float),
                        "MATH_FUNCTION": metric.function,
                        "EVENT_ATTRIBUTION_SOURCE": agg.index.get_level_values(0),
                        "TIMESTAMP": agg.index.get_level_values(1).astype(np.int64),
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _values(rows: pd.DataFrame, items: pd.DataFrame | None, metric: Metric) -> np.ndarray:
    if metric.function == "samplecount":
        return np.ones(len(rows))
    if metric.dataset == "Interactions":
        column = rows[metric.column] if metric.column in rows else pd.Series(np.nan, index=rows.index)
        return pd.to_numeric(column, errors="coerce").fillna(0.0).to_numpy(dtype=float)
    if items is None or metric.column not in items:
        return np.zeros(len(rows))
    by_item = items.drop_duplicates("ITEM_ID", keep="last").set_index("ITEM_ID")[metric.column]
    looked_up = rows["ITEM_ID"].astype(str).map(pd.to_numeric(by_item, errors="coerce"))
    return looked_up.fillna(0.0).to_numpy(dtype=float)


def report_key(prefix: str, mode: str, stamp: float) -> str:
    """Where one import's report goes under the destination's key prefix."""
    name = f"{REPORT_PREFIX}-{mode}-{int(stamp * 1000)}.csv"
    return f"{prefix.rstrip('/')}/{name}".lstrip("/")


class MetricAttributionOps:
    """The metric-attribution operations, mixed into the control plane (``self.store``, ``self.arn``...)."""

    store: Store

    def arn(self, kind: str, *parts: str) -> str:
        raise NotImplementedError

    def _new(self, kind: str, arn: str, record: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _list(self, kind: str, body: dict[str, Any], out_key: str, **match: Any) -> dict[str, Any]:
        raise NotImplementedError

    def op_CreateMetricAttribution(self, body: dict[str, Any]) -> dict[str, Any]:
        from infra.local.personalize.service import check_name, required

        name = check_name(required(body, "name"))
        group = self.store.get("datasetGroups", required(body, "datasetGroupArn"))
        raw = body.get("metrics")
        metrics = self._metrics(group["datasetGroupArn"], raw)
        output = check_output(body.get("metricsOutputConfig"))
        arn = self.arn("metric-attribution", name)
        with self.store.lock:
            existing = self.store.find(KIND, datasetGroupArn=group["datasetGroupArn"])
            if existing and arn not in self.store.resources[KIND]:
                raise ResourceAlreadyExistsException(
                    f"Dataset group {group['datasetGroupArn']} already has a metric attribution "
                    f"({existing[0]['metricAttributionArn']}); a dataset group has at most one."
                )
            record = {
                "name": name,
                "metricAttributionArn": arn,
                "datasetGroupArn": group["datasetGroupArn"],
                "metricsOutputConfig": output,
                "status": "CREATE PENDING",
                "_metrics": [_raw(m) for m in metrics],
                "_settle": now() + SETTLE_SECONDS,
            }
            self._new(KIND, arn, record)
        return {"metricAttributionArn": arn}

    def _metrics(self, group_arn: str, raw: Any, keep: list[Metric] | None = None) -> list[Metric]:
        if not isinstance(raw, list) or (not raw and not keep):
            raise InvalidInputException("metrics must be a list of 1-10 metric attributes.")
        metrics = [*(keep or []), *(parse_metric(m) for m in raw)]
        if not 1 <= len(metrics) <= MAX_METRICS:
            raise InvalidInputException(f"A metric attribution has 1-{MAX_METRICS} metrics, not {len(metrics)}.")
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise InvalidInputException(f"Metric names must be unique: {names}.")
        datasets = {d["datasetType"]: d for d in self.store.find("datasets", datasetGroupArn=group_arn)}
        if "Interactions" not in datasets:
            raise InvalidInputException(f"Dataset group {group_arn} has no Interactions dataset yet.")
        for metric in metrics:
            if metric.function != "sum":
                continue
            dataset = datasets.get(metric.dataset or "")
            if dataset is None:
                raise InvalidInputException(f"{metric.name}: the dataset group has no {metric.dataset} dataset.")
            fields = schemas.parse_schema(self.store.get("schemas", dataset["schemaArn"])["schema"])
            field = next((f for f in fields if f.name == metric.column), None)
            if field is None or field.type not in _NUMERIC:
                raise InvalidInputException(
                    f"{metric.name}: SUM() needs a numeric column of the {metric.dataset} schema, not {metric.column}."
                )
        return metrics

    def _settled(self, arn: str) -> dict[str, Any]:
        record = self.store.get(KIND, arn)
        if record["status"] in ("CREATE PENDING", "UPDATE PENDING") and now() >= record.get("_settle", 0.0):
            record = self.store.update(KIND, arn, status="ACTIVE")
        return record

    def op_DescribeMetricAttribution(self, body: dict[str, Any]) -> dict[str, Any]:
        from infra.local.personalize.service import public, required

        return {"metricAttribution": public(self._settled(required(body, "metricAttributionArn")))}

    def op_ListMetricAttributions(self, body: dict[str, Any]) -> dict[str, Any]:
        for record in list(self.store.resources[KIND].values()):
            self._settled(record["metricAttributionArn"])
        return self._list(KIND, body, "metricAttributions", datasetGroupArn=body.get("datasetGroupArn"))

    def op_ListMetricAttributionMetrics(self, body: dict[str, Any]) -> dict[str, Any]:
        from infra.local.personalize.service import required

        record = self.store.get(KIND, required(body, "metricAttributionArn"))
        rows = record["_metrics"]
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        if not 1 <= size <= 100:
            raise InvalidInputException("maxResults must be between 1 and 100.")
        out: dict[str, Any] = {"metrics": rows[start : start + size]}
        if start + size < len(rows):
            out["nextToken"] = str(start + size)
        return out

    def op_UpdateMetricAttribution(self, body: dict[str, Any]) -> dict[str, Any]:
        from infra.local.personalize.service import required

        arn = required(body, "metricAttributionArn")
        record = self._settled(arn)
        if record["status"] != "ACTIVE":
            raise ResourceInUseException(f"Metric attribution {arn} is {record['status']}, not ACTIVE.")
        removed = body.get("removeMetrics") or []
        known = [parse_metric(m) for m in record["_metrics"]]
        unknown = sorted(set(removed) - {m.name for m in known})
        if unknown:
            raise InvalidInputException(f"removeMetrics names metrics the attribution does not have: {unknown}.")
        kept = [m for m in known if m.name not in removed]
        added = body.get("addMetrics") or []
        if {m.get("metricName") for m in added if isinstance(m, dict)} & {m.name for m in kept}:
            raise ResourceAlreadyExistsException("addMetrics names a metric the attribution already has.")
        metrics = self._metrics(record["datasetGroupArn"], added, kept)
        changes: dict[str, Any] = {"_metrics": [_raw(m) for m in metrics], "status": "UPDATE PENDING"}
        if body.get("metricsOutputConfig") is not None:
            changes["metricsOutputConfig"] = check_output(body["metricsOutputConfig"])
        changes["_settle"] = now() + SETTLE_SECONDS
        self.store.update(KIND, arn, **changes)
        return {"metricAttributionArn": arn}

    def op_DeleteMetricAttribution(self, body: dict[str, Any]) -> dict[str, Any]:
        from infra.local.personalize.service import required

        arn = required(body, "metricAttributionArn")
        record = self._settled(arn)
        if record["status"] != "ACTIVE":
            raise ResourceInUseException(f"Metric attribution {arn} is {record['status']}.")
        self.store.delete(KIND, arn)
        return {}


def _raw(metric: Metric) -> dict[str, str]:
    expression = "SAMPLECOUNT()" if metric.function == "samplecount" else f"SUM({metric.dataset}.{metric.column})"
    return {"eventType": metric.event_type, "metricName": metric.name, "expression": expression}


def publish(
    store: Store, job: dict[str, Any], dataset: dict[str, Any], rows: pd.DataFrame, s3: Callable[[], Any]
) -> str | None:
    """After an interactions import asked for it, write the report of its rows; the key written, or None."""
    if dataset["datasetType"] != "Interactions" or not job.get("publishAttributionMetricsToS3"):
        return None
    found = store.find(KIND, datasetGroupArn=dataset["datasetGroupArn"])
    dest = (found[0].get("metricsOutputConfig") or {}).get("s3DataDestination") if found else None
    if not dest:
        return None
    items_ds = store.find("datasets", datasetGroupArn=dataset["datasetGroupArn"], datasetType="Items")
    items = store.frame(items_ds[0]["datasetArn"]) if items_ds else None
    campaigns = {campaign_code(arn): arn for arn in store.resources["campaigns"]}
    metrics = [parse_metric(m) for m in found[0]["_metrics"]]
    table = report(rows, items, metrics, campaigns)
    path = dest["path"][5:]
    bucket, _, prefix = path.partition("/")
    key = report_key(prefix, str(job.get("importMode", "FULL")), float(job["creationDateTime"]))
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    s3().put_object(Bucket=bucket, Key=key, Body=buf.getvalue().encode())
    log.info("attribution report written", extra={"job": job["datasetImportJobArn"], "key": key, "rows": len(table)})
    return key
