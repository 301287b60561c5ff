"""The operator CLI over in-memory ports: StageDeps with the fake Personalize, run through typer's runner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.personalize.stage import StageDeps
from tests.unit.aws.fakes import FakePersonalize

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
P = "normalized_discounted_cumulative_gain_at_10"
GOOD = {P: 0.30, "coverage": 0.4, "mean_reciprocal_rank_at_25": 0.2, "precision_at_10": 0.05}


@dataclass
class Fakes:
    deps: StageDeps
    port: FakePersonalize
    notifier: RecordingNotifier
    bucket: InMemoryObjectStore
    runner: CliRunner

    def run(self, *args: str) -> Any:
        from shared.cli import app

        return self.runner.invoke(app, list(args))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    env = {"STORYREC_GCP_PROJECT": "p", "STORYREC_MIN_INCREMENTAL_ROWS": "1", "STORYREC_PROMOTION_MODE": "manual"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    port, notifier, bucket = FakePersonalize(NOW), RecordingNotifier(), InMemoryObjectStore("import")
    deps = StageDeps(port, bucket, notifier, RecordingMetrics(), lambda: NOW, Settings.from_env(env))
    import shared.wiring

    monkeypatch.setattr(shared.wiring, "stage_deps", lambda settings, **_: deps)
    monkeypatch.setattr(shared.wiring, "personalize", lambda settings: port)
    import shared.cli.stage

    # these tests' few rows stand for enough data; tests/unit/cli/test_train_minimums.py checks the minimums
    monkeypatch.setattr(shared.cli.stage, "training_data_problem", lambda deps: None)
    return Fakes(deps, port, notifier, bucket, CliRunner())
