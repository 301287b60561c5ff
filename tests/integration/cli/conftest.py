"""The operator CLI against moto and the local Personalize engine (the AWS stage's fixtures, reused)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.aws.conftest import Stage, aws_env, stage  # noqa: F401  (fixtures)


class Cli:
    """``storyrec`` run in-process with the stage's environment, as an operator's shell would have it."""

    def __init__(self, on: Stage, config: Path) -> None:
        self.stage, self.config, self.runner = on, config, CliRunner()

    def __call__(self, *args: str) -> Any:
        from shared.cli import app

        return self.runner.invoke(app, list(args))

    def json(self, *args: str, code: int = 0) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(stage: Stage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:  # noqa: F811
    """The stage's environment set; a resources file naming the stage's (per-test) resources."""
    from shared.operate.bootstrap import DEFAULT_CONFIG

    for key, value in stage.env.items():
        monkeypatch.setenv(key, value)
    # filter names are unique per account: one per test's dataset group
    monkeypatch.setenv("STORYREC_PERSONALIZE_FILTER", f"flt-{stage.settings.personalize.dataset_group}")
    names = stage.settings.personalize
    body = json.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    body["datasetGroup"]["name"] = names.dataset_group
    body["solutions"]["serving"]["name"] = names.solution
    body["solutions"]["baseline"]["name"] = stage.settings.aws_stage.baseline_solution
    body["campaign"]["name"] = names.campaign
    body["metricAttribution"]["name"] = f"ma-{names.dataset_group}"[:63]  # names are unique per account
    config = tmp_path / "resources.json"
    config.write_text(json.dumps(body), encoding="utf-8")
    return Cli(stage, config)
