"""The AWS stage's settings block: defaults, parsing, and clear errors naming the variable."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigError

pytestmark = pytest.mark.unit


def test_defaults_match_the_issue() -> None:
    stage = Settings.from_env({"STORYREC_GCP_PROJECT": "p"}).aws_stage
    assert stage.promotion_mode == "auto" and stage.primary_metric == "normalized_discounted_cumulative_gain_at_10"
    assert stage.perform_auto_training is False and stage.max_pending_imports == 5
    assert stage.min_incremental_rows == 1000 and stage.aws_role_arn is None


def test_values_are_parsed() -> None:
    stage = Settings.from_env(
        {
            "STORYREC_GCP_PROJECT": "p",
            "STORYREC_PROMOTION_MODE": "MANUAL",
            "STORYREC_PERSONALIZE_AUTO_TRAINING": "yes",
            "STORYREC_PROMOTION_GUARD_METRICS": "coverage, precision_at_5",
            "STORYREC_PROMOTION_MIN_IMPROVEMENT": "0.05",
            "STORYREC_STATE_PREFIX": "/ops/state/",
            "STORYREC_AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/storyrec-gcp",
            "GCE_METADATA_HOST": "127.0.0.1:8080",
        }
    ).aws_stage
    assert stage.promotion_mode == "manual" and stage.perform_auto_training is True
    assert stage.guard_metrics == ("coverage", "precision_at_5") and stage.min_improvement == 0.05
    assert stage.state_prefix == "ops/state/" and stage.gce_metadata_host == "127.0.0.1:8080"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORYREC_PROMOTION_MODE", "sometimes"),
        ("STORYREC_PERSONALIZE_AUTO_TRAINING", "maybe"),
        ("STORYREC_PROMOTION_MIN_IMPROVEMENT", "5%"),
        ("STORYREC_PROMOTION_GUARD_TOLERANCE", "1.5"),
        ("STORYREC_PROMOTION_METRIC", "NDCG@10"),
        ("STORYREC_MAX_PENDING_IMPORTS", "6"),
        ("STORYREC_AWS_ROLE_ARN", "arn:aws:iam::123:user/x"),
        ("STORYREC_MONITOR_SCHEDULE", "whenever"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"STORYREC_GCP_PROJECT": "p", name: value})
