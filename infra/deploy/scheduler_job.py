"""Create or update the Cloud Scheduler job that publishes the export's daily tick (idempotent).

    python infra/deploy/scheduler_job.py            # describe, then create or update (needs gcloud)
    python infra/deploy/scheduler_job.py --dry-run  # print the gcloud commands only

Schedule, time zone, topic, job name and location come from Settings (STORYREC_EXPORT_SCHEDULE,
STORYREC_TIME_ZONE, STORYREC_EXPORT_TOPIC, STORYREC_EXPORT_SCHEDULER_JOB,
STORYREC_EXPORT_SCHEDULER_LOCATION). Runs as firebase.json's functions ``postdeploy`` step.
The job publishes ``{}``: the export then takes the day before the message's publish time.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.config import Settings

DAILY_BODY = "{}"
_EVERY_DAY = re.compile(r"^every day (\d{1,2}):(\d{2})$")
_UNIX_CRON = re.compile(r"^(\S+\s+){4}\S+$")


class ScheduleError(ValueError):
    """The configured schedule cannot be expressed as a Cloud Scheduler unix-cron."""


def unix_cron(schedule: str) -> str:
    """``every day HH:MM`` (the Firebase style) or a 5-field unix cron, as Cloud Scheduler's unix cron."""
    match = _EVERY_DAY.match(schedule.strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            raise ScheduleError(f"{schedule!r} is not a time of day")
        return f"{minute} {hour} * * *"
    if _UNIX_CRON.match(schedule.strip()):
        return " ".join(schedule.split())
    raise ScheduleError(f"{schedule!r}: use 'every day HH:MM' or a 5-field unix cron for the export schedule")


def job_flags(settings: Settings) -> list[str]:
    """The flags shared by ``create pubsub`` and ``update pubsub``."""
    return [
        f"--project={settings.gcp_project}",
        f"--location={settings.export.scheduler_location}",
        f"--schedule={unix_cron(settings.export_schedule)}",
        f"--time-zone={settings.time_zone}",
        f"--topic={settings.export.topic}",
        f"--message-body={DAILY_BODY}",
        "--description=storyrec daily export tick (the export function subscribes to the topic)",
    ]


def commands(settings: Settings, *, topic_exists: bool, job_exists: bool) -> list[list[str]]:
    """The gcloud commands that make the topic and job match the settings."""
    out: list[list[str]] = []
    if not topic_exists:
        out.append(["gcloud", "pubsub", "topics", "create", settings.export.topic, f"--project={settings.gcp_project}"])
    verb = "update" if job_exists else "create"
    out.append(["gcloud", "scheduler", "jobs", verb, "pubsub", settings.export.scheduler_job, *job_flags(settings)])
    return out


def _exists(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    if args.dry_run:
        topic_exists = job_exists = False
    else:
        project = f"--project={settings.gcp_project}"
        topic_exists = _exists(["gcloud", "pubsub", "topics", "describe", settings.export.topic, project])
        job_exists = _exists(
            [
                "gcloud",
                "scheduler",
                "jobs",
                "describe",
                settings.export.scheduler_job,
                project,
                f"--location={settings.export.scheduler_location}",
            ]
        )
    for cmd in commands(settings, topic_exists=topic_exists, job_exists=job_exists):
        print(shlex.join(cmd))
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
