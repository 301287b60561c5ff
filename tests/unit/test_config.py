"""Settings: read once, typed, and a clear error naming the variable when something is off."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigError

pytestmark = pytest.mark.unit

BASE = {"STORYREC_GCP_PROJECT": "news-prod"}


def test_defaults_from_a_minimal_environment() -> None:
    s = Settings.from_env(BASE)
    assert s.gcp_project == "news-prod"
    assert s.collections.clicks == "clicks" and s.collections.ml_interactions == "ml_interactions"
    assert s.personalize.num_results == 25
    assert s.time_zone == "UTC" and s.import_prefix == ""


def test_every_value_can_be_overridden() -> None:
    s = Settings.from_env({
        **BASE,
        "AWS_REGION": "eu-west-1",
        "STORYREC_COLLECTION_CLICKS": "events",
        "STORYREC_IMPORT_BUCKET": "acme-personalize-import",
        "STORYREC_IMPORT_PREFIX": "/storyrec/",
        "STORYREC_BACKUP_BUCKET": "acme-backup",
        "STORYREC_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:ops",
        "STORYREC_PERSONALIZE_CAMPAIGN": "arn:aws:personalize:eu-west-1:123456789012:campaign/feed",
        "STORYREC_PERSONALIZE_NUM_RESULTS": "50",
        "STORYREC_TIME_ZONE": "America/Sao_Paulo",
        "STORYREC_EXPORT_SCHEDULE": "every day 03:30",
    })
    assert s.region == "eu-west-1" and s.collections.clicks == "events"
    assert s.import_prefix == "storyrec/"
    assert s.personalize.campaign.endswith("campaign/feed") and s.personalize.num_results == 50
    assert s.tz.key == "America/Sao_Paulo"


def test_project_falls_back_to_the_standard_google_variable() -> None:
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p1"}).gcp_project == "p1"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "STORYREC_GCP_PROJECT"),
        ({**BASE, "STORYREC_IMPORT_BUCKET": "Not_A_Bucket!"}, "STORYREC_IMPORT_BUCKET"),
        ({**BASE, "STORYREC_SNS_TOPIC_ARN": "ops-topic"}, "STORYREC_SNS_TOPIC_ARN"),
        ({**BASE, "STORYREC_PERSONALIZE_NUM_RESULTS": "many"}, "STORYREC_PERSONALIZE_NUM_RESULTS"),
        ({**BASE, "STORYREC_PERSONALIZE_NUM_RESULTS": "501"}, "STORYREC_PERSONALIZE_NUM_RESULTS"),
        ({**BASE, "STORYREC_PERSONALIZE_SOLUTION": "has spaces"}, "STORYREC_PERSONALIZE_SOLUTION"),
        ({**BASE, "STORYREC_TIME_ZONE": "Mars/Olympus"}, "STORYREC_TIME_ZONE"),
        ({**BASE, "STORYREC_COLLECTION_CLICKS": "a/b"}, "STORYREC_COLLECTION_CLICKS"),
        ({**BASE, "STORYREC_TRAIN_SCHEDULE": "monthly"}, "STORYREC_TRAIN_SCHEDULE"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_settings_are_immutable() -> None:
    s = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        s.gcp_project = "other"  # type: ignore[misc]
