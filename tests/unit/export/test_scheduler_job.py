"""The Cloud Scheduler job's definition: cron, time zone, topic and body, from Settings; create vs update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.deploy.scheduler_job import ScheduleError, commands, main, unix_cron
from shared.config import Settings

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


def _flags(cmd: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in cmd if a.startswith("--"))


@pytest.mark.parametrize("bad", ["every 5 minutes", "every day 25:00", "cron(0 3 1 * ? *)", "", "0 2 * *"])
def test_schedules_cloud_scheduler_cannot_run_are_rejected(bad: str) -> None:
    with pytest.raises(ScheduleError):
        unix_cron(bad)


def test_the_default_daily_schedule_becomes_a_unix_cron() -> None:
    assert unix_cron("every day 02:00") == "0 2 * * *"
    assert unix_cron("30  3 * * 1-5") == "30 3 * * 1-5"


def test_the_job_publishes_an_empty_request_to_the_export_topic_in_the_configured_zone() -> None:
    settings = Settings.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "acme-news",
            "STORYREC_TIME_ZONE": "Europe/Berlin",
            "STORYREC_EXPORT_SCHEDULE": "every day 03:15",
            "STORYREC_EXPORT_TOPIC": "nightly-export",
            "STORYREC_EXPORT_SCHEDULER_LOCATION": "europe-west1",
        }
    )
    topic, job = commands(settings, topic_exists=False, job_exists=False)
    assert topic[:5] == ["gcloud", "pubsub", "topics", "create", "nightly-export"]
    assert job[:6] == ["gcloud", "scheduler", "jobs", "create", "pubsub", "storyrec-export-daily"]
    flags = _flags(job)
    assert flags["schedule"] == "15 3 * * *" and flags["time-zone"] == "Europe/Berlin"
    assert flags["topic"] == "nightly-export" and flags["location"] == "europe-west1"
    assert flags["project"] == "acme-news" and json.loads(flags["message-body"]) == {}


def test_a_second_deploy_updates_instead_of_creating() -> None:
    settings = Settings(gcp_project="acme-news")
    (job,) = commands(settings, topic_exists=True, job_exists=True)
    assert job[3] == "update"


def test_dry_run_prints_the_commands(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-news")
    assert main(["--dry-run"]) == 0
    assert "gcloud scheduler jobs create pubsub storyrec-export-daily" in capsys.readouterr().out


def test_firebase_deploy_runs_the_scheduler_script_after_the_functions() -> None:
    config = json.loads((REPO / "firebase.json").read_text())
    hooks = config["functions"][0]["postdeploy"]
    assert any("infra/deploy/scheduler_job.py" in hook for hook in hooks)
    assert "pubsub" in config["emulators"]
