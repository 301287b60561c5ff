"""``storyrec rebuild`` as an operator runs it, against moto and the local Personalize engine: the first run
rebuilds, trains, checks and creates the new campaign and writes the settings to deploy; the written
resources file agrees with them (bootstrap has nothing left to create); ``--finish`` refuses in one line
until a feed comes from the new group, then succeeds; every rerun is a no-op."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

import shared.wiring
from shared.adapters.memory import InMemoryDocumentStore
from shared.adapters.s3 import S3ObjectStore
from tests.integration.aws.conftest import DAY
from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.integration


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)


def test_rebuild_writes_the_settings_to_deploy_and_finishes_only_once_feeds_come_from_the_new_group(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stage = cli.stage
    stage.put_export(DAY, per_user=30, seed=3)
    backup = S3ObjectStore(boto3.client("s3"), stage.settings.import_bucket)  # the export wrote the same files
    monkeypatch.setattr(shared.wiring, "backup_store", lambda settings: backup)
    docs = InMemoryDocumentStore()
    monkeypatch.setattr(shared.wiring, "document_store", lambda settings: docs)
    new, out = f"{stage.settings.personalize.dataset_group}-v2", tmp_path / "out"

    args = ("rebuild", "--dataset-group", new, "--out", str(out), "--config", str(cli.config))
    first = cli.json(*args, "--timeout", "300")
    env = _env_file(out / "settings.env")
    assert env == first["settings"] and env["STORYREC_PERSONALIZE_DATASET_GROUP"] == new
    assert env["STORYREC_PERSONALIZE_CAMPAIGN"] == f"{stage.settings.personalize.campaign}-{new}"
    assert f'--param="campaign={env["STORYREC_PERSONALIZE_CAMPAIGN"]}"' in (out / "serverless-params.txt").read_text()
    port = stage.deps.personalize
    assert port.describe_campaign(first["campaign"]).solution_version_arn == first["solution_version"]
    assert first["old_campaign"] is None  # nothing served before: nothing to retire

    again = cli.json(*args)
    assert {k: again[k] for k in ("campaign", "solution_version", "jobs")} == {
        k: first[k] for k in ("campaign", "solution_version", "jobs")
    }

    for key, value in env.items():  # the operator deploys and loads the written settings
        monkeypatch.setenv(key, value)
    plan = cli.json("bootstrap", "--config", str(out / "resources.json"), "--dry-run")
    assert [s["name"] for s in plan["steps"] if s["action"] == "create"] == []  # the file agrees with the settings

    refused = cli("rebuild", "--dataset-group", new, "--finish")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "do not serve from the new campaign yet" in lines[0], lines

    docs.set("feeds/u1", {"kind": "personalized", "solutionVersionArn": first["solution_version"],
                          "generatedAt": datetime.now(UTC)})
    done = cli.json("rebuild", "--dataset-group", new, "--finish")
    assert done["campaign"] == first["campaign"] and done["retired"] is None
    assert cli.json("rebuild", "--dataset-group", new, "--finish") == done
    in_use = cli("rebuild", "--dataset-group", new)
    assert in_use.exit_code == 2 and "--finish" in in_use.output and "Traceback" not in in_use.output


