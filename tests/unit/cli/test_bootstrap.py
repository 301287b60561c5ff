"""Bootstrap on the in-memory port: the plan, idempotence, and the config checked offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import ConfigError
from shared.operate.bootstrap import (
    DEFAULT_CONFIG,
    Bootstrap,
    apply,
    changed,
    check_against_settings,
    create_requests,
    feed_filter,
    load_config,
    parse_config,
    plan,
)
from tests.corpus.old_schemas import INTERACTIONS_V1_SCHEMA
from tests.unit.aws.fakes import FakePersonalize

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _body() -> dict[str, Any]:
    return json.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


ROLE = "arn:aws:iam::123456789012:role/personalize"


def _boot(port: FakePersonalize | None = None, env: dict[str, str] | None = None) -> Bootstrap:
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_ROLE_ARN": ROLE, **(env or {})})
    return Bootstrap(port or FakePersonalize(NOW), load_config(DEFAULT_CONFIG), settings, poll_interval=0.0)


def test_the_shipped_config_names_what_the_functions_use_by_default() -> None:
    config = load_config(DEFAULT_CONFIG)
    check_against_settings(config, Settings(gcp_project="p"))
    assert config.baseline.recipe_arn.endswith("aws-popularity-count")
    assert config.datasets == ("interactions", "items", "users")


def test_dry_run_on_an_empty_account_plans_everything_and_creates_nothing() -> None:
    port = FakePersonalize(NOW)
    steps = plan(_boot(port))
    assert {s.action for s in steps if s.kind != "campaign"} == {"create"}
    assert [s.kind for s in steps].count("schema") == 3 and [s.kind for s in steps].count("solution") == 3
    assert next(s for s in steps if s.kind == "campaign").action == "deferred"
    assert port.arns == {}


def test_apply_creates_then_a_second_run_changes_nothing() -> None:
    port = FakePersonalize(NOW)
    seen: list[str] = []
    first = apply(_boot(port), lambda step: seen.append(step.name))
    assert changed(first) and all(s.arn for s in first if s.kind != "campaign")
    assert len(seen) == len(first)
    created = dict(port.arns)
    feed = feed_filter(Settings(gcp_project="p"))
    assert ("solution", "storyrec-popularity-baseline") in created and ("filter", feed.name) in created
    assert feed.name.startswith("storyrec-exclude-seen-") and "$MIN_CREATED" in feed.expression
    second = apply(_boot(port))
    assert not changed(second) and {s.action for s in second if s.kind != "campaign"} == {"exists"}
    assert port.arns == created
    assert {s.action for s in plan(_boot(port)) if s.kind != "campaign"} == {"exists"}


def test_the_serving_solution_has_a_second_slot_with_the_same_recipe_and_configuration() -> None:
    body = _body()
    body["solutions"]["serving"]["eventWeights"] = {"read": 1.0, "like": 2.0}
    solutions = [r for op, r in create_requests(parse_config(body)) if op == "CreateSolution"]
    first, second = solutions[0], solutions[1]
    assert second["name"] == f"{first['name']}-b" and {**second, "name": first["name"]} == first


def test_an_existing_deployment_with_one_solution_gets_its_second_slot_from_a_rerun() -> None:
    port = FakePersonalize(NOW)
    group = port.ensure_dataset_group("storyrec")
    boot = _boot(port)
    first = port.ensure_solution(boot.config.serving.spec(group))  # what bootstrap created before the slots
    served = port.create_solution_version(first, "storyrec-20261101")
    steps = {s.name: s.action for s in plan(boot) if s.kind == "solution"}
    assert steps == {
        "storyrec-user-personalization": "exists",
        "storyrec-user-personalization-b": "create",
        "storyrec-popularity-baseline": "create",
    }
    done = apply(boot)
    assert [s.action for s in done if s.kind == "solution"] == ["exists", "created", "created"]
    assert port.find_arn("solution", "storyrec-user-personalization") == first
    assert [v.arn for v in port.list_solution_versions(first)] == [served]  # the serving version stays where it is
    assert not changed(apply(boot))


def test_a_serving_solution_given_by_arn_gets_its_second_slot_by_name() -> None:
    port = FakePersonalize(NOW)
    given = "arn:aws:personalize:us-east-1:123456789012:solution/theirs"
    steps = apply(_boot(port, {"STORYREC_PERSONALIZE_SOLUTION": given}))
    solutions = {s.name: s.action for s in steps if s.kind == "solution"}
    assert solutions[given] == "given" and solutions["theirs-b"] == "created"
    assert ("solution", "theirs") not in port.arns


def test_a_baseline_named_like_the_second_slot_is_refused() -> None:
    body = _body()
    body["solutions"]["baseline"]["name"] = body["solutions"]["serving"]["name"] + "-b"
    with pytest.raises(ConfigError, match="second slot"):
        parse_config(body)


def test_a_resource_given_as_an_arn_is_used_not_created() -> None:
    port = FakePersonalize(NOW)
    group = "arn:aws:personalize:us-east-1:123456789012:dataset-group/theirs"
    steps = apply(_boot(port, {"STORYREC_PERSONALIZE_DATASET_GROUP": group}))
    assert steps[0].action == "given" and ("dataset-group", "storyrec") not in port.arns


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda b: b["solutions"]["serving"].update(name="bad name!"), "not a valid Personalize name"),
        (lambda b: b["campaign"].update(minProvisionedTPS=0), "minProvisionedTPS"),
        (lambda b: b["filters"].append({"name": "f", "filterExpression": "x" * 2501}), "filterExpression"),
        (lambda b: b["solutions"]["baseline"].update(recipeArn=""), "recipeArn"),
        (lambda b: b["solutions"]["serving"].update(eventWeights={"read": "heavy"}), "malformed"),
        (lambda b: b.update(datasets=["interactions", "clicks"]), "dataset types"),
        (lambda b: b.update(format_version="9"), "format_version"),
        (lambda b: b.pop("campaign"), "missing"),
        (lambda b: b["filters"].extend([{"name": "f", "filterExpression": "x"}] * 2), "repeat"),
        (lambda b: b["metricAttribution"]["metrics"][0].update(eventType="click"), "event types"),
        (lambda b: b["metricAttribution"]["metrics"][0].update(expression="AVG(x)"), "SAMPLECOUNT"),
        (lambda b: b["metricAttribution"]["metrics"].append(b["metricAttribution"]["metrics"][0]), "distinct"),
        (lambda b: b["metricAttribution"].update(name="bad name!"), "not a valid Personalize name"),
        (lambda b: b["metricAttribution"].pop("metrics"), "missing"),
    ],
)
def test_a_bad_config_is_refused_offline_naming_the_problem(edit: Any, expected: str) -> None:
    body = _body()
    edit(body)
    with pytest.raises(ConfigError, match=expected):
        parse_config(body)


def test_event_weights_pass_the_service_model() -> None:
    body = _body()
    body["solutions"]["serving"]["eventWeights"] = {"read": 1.0, "like": 2.0}
    assert parse_config(body).serving.event_weights == {"read": 1.0, "like": 2.0}


def test_names_that_disagree_with_the_settings_are_refused(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG)
    with pytest.raises(ConfigError, match="STORYREC_PERSONALIZE_SOLUTION"):
        check_against_settings(
            config, Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_SOLUTION": "x"})
        )
    (tmp_path / "r.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not UTF-8 JSON"):
        load_config(tmp_path / "r.json")
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "missing.json")


def test_a_group_whose_interactions_schema_lacks_the_attribution_columns_is_refused_naming_the_fix() -> None:
    from shared.operate.bootstrap import OutdatedInteractionsSchema

    port = FakePersonalize(NOW)
    group = port.ensure_dataset_group("storyrec")
    old = port.ensure_schema("storyrec-interactions-v1-0", INTERACTIONS_V1_SCHEMA)
    port.ensure_dataset(group, "interactions", old, "storyrec-interactions")
    for run in (plan, apply):
        with pytest.raises(OutdatedInteractionsSchema) as refused:
            run(_boot(port))
        message = str(refused.value)
        assert "\n" not in message
        assert "RECOMMENDATION_ID, EVENT_ATTRIBUTION_SOURCE, IMPRESSION" in message
        assert "`storyrec rebuild --dataset-group storyrec-v2`" in message
    assert ("solution", "storyrec-user-personalization") not in port.arns  # refused before creating anything else


def test_a_group_with_the_current_interactions_schema_passes_the_check() -> None:
    port = FakePersonalize(NOW)
    apply(_boot(port))
    assert not changed(apply(_boot(port)))


def test_the_metric_attribution_counts_clicks_and_reads_into_the_import_bucket() -> None:
    port = FakePersonalize(NOW)
    steps = apply(_boot(port, {"STORYREC_IMPORT_BUCKET": "imports", "STORYREC_IMPORT_PREFIX": "prod"}))
    step = next(s for s in steps if s.kind == "metric_attribution")
    assert step.action == "created" and step.arn
    spec = port.attributions["storyrec-attribution"]
    assert spec.output_path == "s3://imports/prod/attribution/" and spec.role_arn == ROLE
    assert spec.dataset_group_arn == steps[0].arn
    assert {(m.event_type, m.expression) for m in spec.metrics} >= {
        ("open", "SAMPLECOUNT()"),
        ("read", "SAMPLECOUNT()"),
    }
    again = apply(_boot(port, {"STORYREC_IMPORT_BUCKET": "imports"}))
    assert next(s for s in again if s.kind == "metric_attribution").action == "exists"


def test_without_the_role_the_metric_attribution_waits_and_says_why() -> None:
    port = FakePersonalize(NOW)
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p"})
    steps = apply(Bootstrap(port, load_config(DEFAULT_CONFIG), settings, poll_interval=0.0))
    step = next(s for s in steps if s.kind == "metric_attribution")
    assert step.action == "deferred" and "STORYREC_PERSONALIZE_ROLE_ARN" in step.detail
    assert not port.attributions


def test_a_config_without_a_metric_attribution_makes_none() -> None:
    body = _body()
    body.pop("metricAttribution")
    config = parse_config(body)
    port = FakePersonalize(NOW)
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_ROLE_ARN": ROLE})
    steps = apply(Bootstrap(port, config, settings, poll_interval=0.0))
    assert not any(s.kind == "metric_attribution" for s in steps) and not port.attributions
