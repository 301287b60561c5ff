"""No command prints a traceback on an expected condition: one line naming the thing and its fix, the exit code.

The conditions an operator meets on a fresh stack or a wrong shell (issue 20): a missing bucket (S3 or
GCS), no Google or AWS credentials (the stack's env not loaded), the stack not running. Each is raised
where the command first touches the cloud (its wiring), as the SDK would raise it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from google.api_core import exceptions as google_exceptions
from google.auth.exceptions import DefaultCredentialsError
from typer.testing import CliRunner

import shared.cli.feeds
import shared.wiring
from shared.cli import app
from tests.unit.cli.conftest import Fakes

pytestmark = pytest.mark.unit

NO_SUCH_BUCKET = ClientError(
    {"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist", "BucketName": "imp"}},
    "ListObjectsV2",
)
GCS_MISSING = google_exceptions.NotFound("GET http://127.0.0.1:1/storage/v1/b/bak/o?prefix=manifests%2F: Not Found")

# condition -> (the SDK's exception, the line's words, exit code)
CONDITIONS: dict[str, tuple[Exception, str, int]] = {
    "missing S3 bucket": (NO_SUCH_BUCKET, "S3 bucket s3://imp (STORYREC_IMPORT_BUCKET) does not exist", 1),
    "missing GCS bucket": (GCS_MISSING, "GCS bucket gs://bak (STORYREC_BACKUP_BUCKET) does not exist", 1),
    "no Google credentials": (DefaultCredentialsError("no ADC"), "no Google credentials", 2),
    "no AWS credentials": (NoCredentialsError(), "no AWS credentials", 2),
    "stack not running": (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "cannot reach", 1),
    "other AWS error": (
        ClientError({"Error": {"Code": "AccessDenied", "Message": "nope"}}, "GetObject"),
        "AWS GetObject failed: AccessDenied",
        1,
    ),
}
FIX = {
    "missing S3 bucket": "storyrec-dev stack up",
    "missing GCS bucket": "storyrec-dev stack up",
    "no Google credentials": "storyrec-dev stack env",
    "no AWS credentials": "storyrec-dev stack env",
    "stack not running": "storyrec-dev stack status",
    "other AWS error": "",
}
COMMANDS = [
    ("import",),
    ("train",),
    ("promote",),
    ("evaluate",),
    ("recommend", "--user", "u1"),
    ("feeds", "refresh"),
    ("rebuild", "--dataset-group", "storyrec-v2"),
    ("rebuild", "--dataset-group", "storyrec-v2", "--finish"),
]


@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_expected_condition_is_one_line_and_its_exit_code(
    condition: str, command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    error, words, code = CONDITIONS[condition]

    def broken(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    monkeypatch.setattr(shared.wiring, "stage_deps", broken)
    monkeypatch.setattr(shared.cli.feeds, "feed_deps", broken)
    result = CliRunner().invoke(app, list(command))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, type(error))
    lines = result.output.strip().splitlines()
    assert len(lines) <= 2 and words in lines[0] and FIX[condition] in lines[0]


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only expected conditions are explained: an unexpected error still surfaces for a bug report."""

    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError("bug")

    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    monkeypatch.setattr(shared.wiring, "stage_deps", broken)
    result = CliRunner().invoke(app, ["train"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_no_project_is_a_configuration_error_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("STORYREC_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    for command in COMMANDS:
        result = CliRunner().invoke(app, list(command))
        assert result.exit_code == 2 and "STORYREC_GCP_PROJECT is not set" in result.output, command


HELP_COMMANDS = [
    *[(), ("import",), ("train",), ("promote",), ("evaluate",), ("recommend",), ("feeds", "refresh"), ("export",)],
    *[("status",), ("report",), ("backfill",), ("publish-dataset",), ("rebuild",)],
]


def test_help_shows_flags_without_a_type() -> None:
    runner = CliRunner()
    for command in HELP_COMMANDS:
        shown = runner.invoke(app, [*command, "--help"])
        assert shown.exit_code == 0 and "<bool>" not in shown.output, command


def test_help_paragraphs_are_wrapped_at_the_terminal_width_not_at_the_docstrings_line_breaks() -> None:
    """At 80 columns a docstring's line breaks must not leave ragged short lines mid-sentence."""
    runner = CliRunner()
    for command in HELP_COMMANDS:
        shown = runner.invoke(app, [*command, "--help"], terminal_width=80, env={"COLUMNS": "80"})
        lines = shown.output.splitlines()
        ends = [i for i, line in enumerate(lines) if line.startswith(("Options", "Arguments", "Commands", "╭"))]
        description = lines[: min(ends, default=len(lines))]
        ragged = [a for a, b in itertools.pairwise(description) if b.strip() and len(a.rstrip()) < 45]
        assert not [a for a in ragged if a.strip() and not a.lstrip().startswith(("Usage:", "-", "storyrec"))], (
            command,
            ragged,
        )


def test_an_unknown_recipe_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    for recipe in ("aws-nope", "arn:aws:personalize:::solution/x", "not a recipe"):
        result = CliRunner().invoke(app, ["evaluate", "--recipe", recipe])
        assert result.exit_code == 2 and "unknown recipe" in result.output


def test_status_names_a_missing_import_bucket_once(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*_: Any, **__: Any) -> Any:
        raise NO_SUCH_BUCKET

    monkeypatch.setattr(fakes.bucket, "list", missing)
    monkeypatch.setattr(fakes.bucket, "get_bytes", missing)
    result = fakes.run("status", "--no-firestore")
    assert result.exit_code == 1 and "Traceback" not in result.output
    named = [line for line in result.output.splitlines() if "does not exist" in line]
    assert len(named) == 1 and "s3://storyrec-import" in named[0] and "storyrec-dev stack up" in named[0]
    assert "NoSuchBucket" not in result.output
