"""The metric-attribution parts of the engine without a network: expressions, sources, report totals, states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.personalize import attribution
from infra.local.personalize.errors import InvalidInputException, ResourceInUseException
from infra.local.personalize.jobs import Worker
from infra.local.personalize.service import ControlPlane
from infra.local.personalize.store import Store

pytestmark = pytest.mark.unit
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/feed"


@pytest.mark.parametrize(
    ("expression", "function", "dataset", "column"),
    [
        ("SAMPLECOUNT()", "samplecount", None, None),
        ("samplecount( )", "samplecount", None, None),
        ("SUM(DatasetType.INTERACTIONS.EVENT_VALUE)", "sum", "Interactions", "EVENT_VALUE"),
        ("SUM(Interactions.EVENT_VALUE)", "sum", "Interactions", "EVENT_VALUE"),
        ("SUM(Items.PRICE)", "sum", "Items", "PRICE"),
    ],
)
def test_expressions(expression: str, function: str, dataset: str | None, column: str | None) -> None:
    metric = attribution.parse_metric({"eventType": "click", "metricName": "M", "expression": expression})
    assert (metric.function, metric.dataset, metric.column) == (function, dataset, column)


@pytest.mark.parametrize(
    "expression", ["COUNT()", "SUM()", "SUM(Users.AGE)", "SUM(Interactions)", "SAMPLECOUNT(x)", "", "x" * 300]
)
def test_bad_expressions_are_invalid_input(expression: str) -> None:
    with pytest.raises(InvalidInputException):
        attribution.parse_metric({"eventType": "click", "metricName": "M", "expression": expression})


def test_source_precedence() -> None:
    rid = attribution.recommendation_id(CAMPAIGN)
    rows = pd.DataFrame(
        {
            "RECOMMENDATION_ID": [rid, rid, None, None, "RID-ffffffffff-x-0", "not-an-id"],
            "EVENT_ATTRIBUTION_SOURCE": [None, "latest", "latest", None, None, " "],
        }
    )
    campaigns = {attribution.campaign_code(CAMPAIGN): CAMPAIGN}
    assert attribution.sources(rows, campaigns).tolist() == [
        CAMPAIGN,
        "latest",
        "latest",
        attribution.UNDEFINED,
        attribution.UNDEFINED,
        attribution.UNDEFINED,
    ]
    # an older interactions CSV without the columns: every row undefined
    assert set(attribution.sources(pd.DataFrame(index=range(3)), campaigns)) == {attribution.UNDEFINED}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["click", "read", "like"]),
            st.integers(0, 10_000),
            st.sampled_from([None, "latest", "storyrec-control"]),
            st.booleans(),
            st.one_of(st.none(), st.floats(0, 1000)),
        ),
        max_size=60,
    )
)
def test_report_totals_equal_the_rows(rows: list[tuple[str, int, str | None, bool, float | None]]) -> None:
    """Whatever the rows, each metric's values sum to its count (or sum) over the rows of its event type."""
    rid = attribution.recommendation_id(CAMPAIGN)
    frame = pd.DataFrame(
        {
            "ITEM_ID": "i",
            "EVENT_TYPE": [r[0] for r in rows],
            "TIMESTAMP": np.array([r[1] for r in rows], dtype=np.int64),
            "EVENT_ATTRIBUTION_SOURCE": [r[2] for r in rows],
            "RECOMMENDATION_ID": [rid if r[3] else None for r in rows],
            "EVENT_VALUE": [r[4] for r in rows],
        }
    )
    metrics = [
        attribution.parse_metric({"eventType": "click", "metricName": "C", "expression": "SAMPLECOUNT()"}),
        attribution.parse_metric(
            {"eventType": "read", "metricName": "S", "expression": "SUM(Interactions.EVENT_VALUE)"}
        ),
    ]
    table = attribution.report(frame, None, metrics, {attribution.campaign_code(CAMPAIGN): CAMPAIGN})
    assert list(table.columns) == list(attribution.REPORT_COLUMNS)
    clicks = table[table.METRIC_NAME == "C"]
    assert clicks.VALUE.sum() == sum(r[0] == "click" for r in rows)
    reads = table[table.METRIC_NAME == "S"]
    assert reads.VALUE.sum() == pytest.approx(sum(r[4] or 0.0 for r in rows if r[0] == "read"))
    assert (table.TIMESTAMP % attribution.WINDOW_SECONDS == 0).all()
    assert not table.duplicated(["METRIC_NAME", "EVENT_ATTRIBUTION_SOURCE", "TIMESTAMP"]).any()


def test_pending_attribution_cannot_be_updated_or_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attribution, "SETTLE_SECONDS", 3600.0)
    store = Store(tmp_path)
    control = ControlPlane(store, Worker(store))
    group = control.dispatch("CreateDatasetGroup", {"name": "g"})["datasetGroupArn"]
    schema = (
        '{"type": "record", "name": "Interactions", "fields": [{"name": "USER_ID", "type": "string"},'
        '{"name": "ITEM_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"}]}'
    )
    schema_arn = control.dispatch("CreateSchema", {"name": "s", "schema": schema})["schemaArn"]
    control.dispatch(
        "CreateDataset", {"name": "d", "datasetGroupArn": group, "schemaArn": schema_arn, "datasetType": "Interactions"}
    )
    arn = control.dispatch(
        "CreateMetricAttribution",
        {
            "name": "m",
            "datasetGroupArn": group,
            "metrics": [{"eventType": "click", "metricName": "C", "expression": "SAMPLECOUNT()"}],
            "metricsOutputConfig": {"roleArn": "arn:aws:iam::000000000000:role/r"},
        },
    )["metricAttributionArn"]
    assert control.dispatch("DescribeMetricAttribution", {"metricAttributionArn": arn})["metricAttribution"][
        "status"
    ] == ("CREATE PENDING")
    for op, body in (("DeleteMetricAttribution", {}), ("UpdateMetricAttribution", {"removeMetrics": ["C"]})):
        with pytest.raises(ResourceInUseException):
            control.dispatch(op, {"metricAttributionArn": arn, **body})
    monkeypatch.setattr(attribution, "now", lambda: 1e12)
    assert control.dispatch("DescribeMetricAttribution", {"metricAttributionArn": arn})["metricAttribution"][
        "status"
    ] == ("ACTIVE")
    with pytest.raises(InvalidInputException):  # removing the only metric leaves none
        control.dispatch("UpdateMetricAttribution", {"metricAttributionArn": arn, "removeMetrics": ["C"]})
    control.worker.stop()


def test_sum_of_an_items_column_joins_the_items_dataset() -> None:
    rows = pd.DataFrame(
        {
            "ITEM_ID": ["a", "b", "a", "zz"],  # zz is not in the items dataset: counts 0
            "EVENT_TYPE": ["read"] * 4,
            "TIMESTAMP": np.array([0, 1, 2, 3], dtype=np.int64),
            "EVENT_ATTRIBUTION_SOURCE": ["latest"] * 4,
        }
    )
    items = pd.DataFrame({"ITEM_ID": ["a", "b", "b"], "WORDS": [100.0, 5.0, 7.0]})  # the last row of b wins
    metric = attribution.parse_metric({"eventType": "read", "metricName": "W", "expression": "SUM(Items.WORDS)"})
    table = attribution.report(rows, items, [metric], {})
    assert table.VALUE.tolist() == [207.0] and table.MATH_FUNCTION.tolist() == ["sum"]
