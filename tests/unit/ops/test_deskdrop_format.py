"""Generated traffic in Deskdrop's file format: what tests read when ../shared/data/deskdrop is absent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from infra.local.traffic.deskdrop_format import deskdrop_config, write_deskdrop_like
from tests.conftest import deskdrop_or_generated

pytestmark = pytest.mark.unit


def test_the_files_have_deskdrops_columns_and_quirks(tmp_path: Path) -> None:
    directory = write_deskdrop_like(tmp_path, deskdrop_config(users=80, stories=120, interactions=3_000))
    raw = (directory / "articles.csv").read_text()
    assert raw.startswith('"creation_timestamp","item_id","lang","article_genre","training_text"')
    assert '\\"quotes\\"' in raw  # backslash-escaped quotes, as the real file: a default reader mis-splits
    articles = pd.read_csv(directory / "articles.csv", escapechar="\\", doublequote=False)
    events = pd.read_csv(directory / "users_interactions.csv")
    assert list(events.columns) == [
        "timestamp",
        "eventType",
        "contentId",
        "personId",
        "sessionId",
        "userAgent",
        "userRegion",
        "userCountry",
    ]
    assert set(events["eventType"]) == {"VIEW", "LIKE", "BOOKMARK", "COMMENT CREATED", "FOLLOW"}
    assert not events["timestamp"].is_monotonic_increasing  # rows not in time order
    assert 0 < (~events["contentId"].isin(articles["item_id"])).mean() < 0.02  # a few unknown articles
    assert events["userAgent"].isna().any() and events["personId"].lt(0).any()
    assert len(articles) == 120 and len(events) == 3_000


def test_a_clone_without_the_team_data_gets_generated_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.conftest

    monkeypatch.setattr(tests.conftest, "DESKDROP", tmp_path / "absent")
    found = deskdrop_or_generated(tmp_path / "generated")
    assert found == tmp_path / "generated" and (found / "users_interactions.csv").is_file()
