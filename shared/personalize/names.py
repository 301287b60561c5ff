"""Deterministic Personalize names: the same input always gives the same, valid name.

Personalize names: 1-63 characters, ``^[a-zA-Z0-9][a-zA-Z0-9\\-_]*``. A reused name is refused
(ResourceAlreadyExistsException), which is what makes a retried create safe.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime

from shared.limits import RESOURCE_NAME_MAX_CHARS as MAX_NAME
from shared.limits import SOLUTION_SLOT_SUFFIX

_BAD = re.compile(r"[^a-zA-Z0-9\-_]+")
_JOB_DATE = re.compile(r"-(\d{8})-[0-9a-f]{10}-\d{3}$")


def _digest(text: str, size: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]


def safe_name(text: str, limit: int = MAX_NAME) -> str:
    """``text`` made a valid name of at most ``limit`` characters; too long or altered → a readable head plus
    a hash of the original."""
    cleaned = _BAD.sub("-", text).strip("-_") or "x"
    if cleaned == text and len(text) <= limit:
        return text
    return f"{cleaned[: limit - 11]}-{_digest(text)}"


def import_job_name(dataset: str, day: date, run_id: str, dataset_arn: str, part: int) -> str:
    """``<dataset>-<YYYYMMDD>-<hash>-<part>``: one name per (run, dataset, part).

    Job names are unique per account and region, so the hash covers the dataset's ARN as well as the
    run id: two dataset groups importing the same export get different jobs.
    """
    return f"{safe_name(dataset)[:36]}-{day:%Y%m%d}-{_digest(run_id + '|' + dataset_arn)}-{part:03d}"


def import_job_day(job_name: str) -> date | None:
    """The export date a storyrec import job name carries (None for foreign names)."""
    return _yyyymmdd(_JOB_DATE.search(job_name))


def second_slot(solution: str) -> str:
    """The name of the serving solution's second slot: ``<name>-b`` (docs/aws.md, "Two solution slots").

    ``solution`` is the configured name, or the ARN of a solution given by ARN (its name is the ARN's last
    segment; the second slot is then the solution of that name in the configured dataset group). A name too
    long for the suffix (the settings refuse one) gets :func:`safe_name`'s head-plus-hash form: still valid.
    """
    name = solution.rsplit("/", 1)[-1] + SOLUTION_SLOT_SUFFIX
    return name if len(name) <= MAX_NAME else safe_name(name)


def training_name(prefix: str, period: str) -> str:
    """A solution version's name for one training period (e.g. the month the schedule fired in)."""
    return safe_name(f"{prefix}-{period}")


_TRAINING_DAY = re.compile(r"^storyrec(?:-manual)?-(\d{8})(?:\d{4})?$")


def training_day(name: str | None) -> date | None:
    """The day a storyrec training's name carries (``storyrec-YYYYMMDD``, ``storyrec-manual-YYYYMMDDHHMM``);
    None for other names."""
    return _yyyymmdd(_TRAINING_DAY.match(name or ""))


def _yyyymmdd(match: re.Match[str] | None) -> date | None:
    """The date of a match's first group (``YYYYMMDD``), None without a match or for an impossible date."""
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
