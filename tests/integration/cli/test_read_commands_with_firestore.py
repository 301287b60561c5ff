"""``storyrec status`` and ``storyrec report`` reading every source: moto (manifests, the stage's S3 state), the
local Personalize engine, and the official Firestore emulator (quarantine, feeds/*)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.local.stack import LocalStack, StackError
from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def firestore_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    local = LocalStack(tmp_path_factory.mktemp("cli-firestore"))
    try:
        env = local.up(("firestore",))
    except StackError as exc:
        pytest.fail(f"the Firestore emulator failed to start: {exc}", pytrace=False)
    try:
        yield env
    finally:
        local.down()


def test_status_and_report_read_firestore_and_the_stage_state(
    cli: Cli, firestore_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shared import wiring
    from shared.config import Settings

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_env["FIRESTORE_EMULATOR_HOST"])
    monkeypatch.setenv("STORYREC_GCP_PROJECT", f"demo-cli-{cli.stage.settings.import_bucket}")
    settings = Settings.from_env(
        {**cli.stage.env, **firestore_env, "STORYREC_GCP_PROJECT": f"demo-cli-{cli.stage.settings.import_bucket}"}
    )
    client = wiring.firestore_client(settings)
    now = datetime.now(UTC)
    client.document("feeds/u1").set(
        {"generatedAt": now - timedelta(hours=2), "kind": "personalized", "storyIds": ["s1"]}
    )
    client.document("feeds/u2").set({"generatedAt": now - timedelta(hours=26), "kind": "popular", "stale": True})
    client.document("ml_quarantine/q1").set({"reason": "too_long"})
    client.document("ml_users/u1").set({"USER_ID": "u1"})
    version = "arn:aws:personalize:us-east-1:000000000000:solution/s/v1"
    cli.stage.deps.state.record_decision(
        version,
        {
            "decided_at": now.isoformat(),
            "action": "promote",
            "outcome": "campaign created",
            "reasons": ["ndcg beats the baseline"],
            "candidate": version,
            "metrics": {"candidate": {"normalized_discounted_cumulative_gain_at_10": 0.2}},
        },
    )

    status = cli.json("status")
    assert status["quarantine"] == {"too_long": 1}
    assert status["feeds"]["feeds"] == 2 and status["feeds"]["stale"] == 1
    assert 25.9 < status["feeds"]["oldest_hours"] < 26.1 and status["decisions"][0]["candidate"] == version

    page = tmp_path / "report.html"
    empty = tmp_path / "exports"
    empty.mkdir()
    shown = cli("report", "--out", str(page), "--exports-dir", str(empty))
    assert shown.exit_code == 0, shown.output
    text = page.read_text(encoding="utf-8")
    assert 'data-plot="solution-metrics"' in text and 'data-plot="feeds"' in text and "unreadable" not in text
