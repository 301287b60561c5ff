"""STORYREC_FEED_* settings: defaults, parsing and clear errors."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigError

pytestmark = pytest.mark.unit
BASE = {"GOOGLE_CLOUD_PROJECT": "demo-storyrec"}


def test_defaults() -> None:
    rec = Settings.from_env(BASE).recommend
    assert rec.active_days == 30 and rec.seen_event_types == ("*",) and rec.schedule == "every day 05:00"
    assert rec.popular_half_life_hours == 24.0


def test_values_are_read() -> None:
    rec = Settings.from_env(
        {
            **BASE,
            "STORYREC_FEED_SEEN_EVENT_TYPES": "open, read",
            "STORYREC_FEED_CAMPAIGN_TPS": "20",
            "STORYREC_FEED_BACKOFF_SECONDS": "0.25",
            "STORYREC_FEED_BATCH_PREFIX": "/b/feeds",
        }
    ).recommend
    assert rec.seen_event_types == ("open", "read") and rec.campaign_tps == 20
    assert rec.backoff_seconds == 0.25 and rec.batch_prefix == "b/feeds/"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORYREC_FEED_ACTIVE_DAYS", "0"),
        ("STORYREC_FEED_CONCURRENCY", "lots"),
        ("STORYREC_FEED_SEEN_EVENT_TYPES", 'read") | INCLUDE ItemID WHERE ("x'),
        ("STORYREC_FEED_BACKOFF_SECONDS", "nan-ish"),
        ("STORYREC_FEED_BACKOFF_SECONDS", "999"),
        ("STORYREC_FEED_POPULAR_HALF_LIFE_HOURS", "0"),
        ("STORYREC_FEED_POPULAR_HALF_LIFE_HOURS", "nan"),
        ("STORYREC_FEED_POPULAR_HALF_LIFE_HOURS", "inf"),
        ("STORYREC_FEED_BATCH_ROLE_ARN", "role"),
        ("STORYREC_FEED_SCHEDULE", "whenever"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})
