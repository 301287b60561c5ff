"""What every operator command shares: exit codes, settings, JSON output, the console and the guard
that turns an expected condition (missing bucket, credentials, stack) into one line instead of a traceback.

Exit codes scripts can trust: 0 ok, 1 refused or a failed check, 2 usage or configuration,
3 ``recommend`` for an unknown user.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError
from google.api_core import exceptions as google_exceptions
from google.auth.exceptions import DefaultCredentialsError
from requests.exceptions import ConnectionError as RequestsConnectionError
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from shared.config import Settings
from shared.errors import ConfigError

EXIT_FAILED, EXIT_USAGE = 1, 2
EXIT_UNKNOWN_USER = 3
"""``storyrec recommend`` for a user Personalize has never seen (it answers with the popular list)."""
_LOAD_STACK = 'locally load the stack first: eval "$(storyrec-dev stack env)"'
_GCS_BUCKET = re.compile(r"/b/([^/?]+)(?:/o)?(?:\?|:|$)")
"""A GCS 404 on a bucket (or its listing), not on one object (``/b/NAME/o/OBJECT``)."""

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of tables.")]

console = Console(stderr=True, highlight=False)
"""Human output goes to stderr, so ``--json`` stdout stays clean and pipes stay quiet."""


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``message`` and exit with ``code``."""
    console.print(message, style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment; a configuration error exits 2."""
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_USAGE)


def print_json(value: Any) -> None:
    """JSON on stdout (datetimes and other objects as strings)."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def missing_s3_bucket(name: str) -> str:
    """The line for a missing import bucket: its name and the command that makes it."""
    return (
        f"S3 bucket s3://{name} (STORYREC_IMPORT_BUCKET) does not exist: create it with `storyrec-dev stack up` "
        "locally, or `serverless deploy` in production (docs/deploy.md)"
    )


def _bucket_missing(exc: Exception, settings: Settings | None) -> str | None:
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
        name = exc.response["Error"].get("BucketName") or (settings.import_bucket if settings else "the import bucket")
        return missing_s3_bucket(str(name))
    found = _GCS_BUCKET.search(str(exc)) if isinstance(exc, google_exceptions.NotFound) else None
    if found:
        return (
            f"GCS bucket gs://{found.group(1)} (STORYREC_BACKUP_BUCKET) does not exist: create it with "
            "`storyrec-dev stack up` locally, or as docs/deploy.md (1.3) says in production"
        )
    return None


def explain(exc: Exception) -> tuple[str, int] | None:
    """One line naming an expected condition (missing bucket, credentials, stack) and its fix, with the exit
    code; None for what is not expected (a bug keeps its traceback)."""
    try:
        settings: Settings | None = Settings.from_env(os.environ)
    except ConfigError:
        settings = None
    missing = _bucket_missing(exc, settings)
    if missing:
        return missing, EXIT_FAILED
    if isinstance(exc, DefaultCredentialsError):
        return (
            f"no Google credentials: {_LOAD_STACK}, or in production `gcloud auth application-default login`",
            EXIT_USAGE,
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials: {_LOAD_STACK}, or in production `aws configure` (or AWS_PROFILE)", EXIT_USAGE
    if isinstance(exc, EndpointConnectionError | RequestsConnectionError | google_exceptions.RetryError):
        return (
            f"cannot reach the service ({_first_line(exc)}): is the local stack up? `storyrec-dev stack status`",
            EXIT_FAILED,
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS {exc.operation_name} failed: {error.get('Code')}: {error.get('Message')}", EXIT_FAILED
    if isinstance(exc, google_exceptions.GoogleAPICallError):
        return f"Google Cloud call failed: {_first_line(exc)}", EXIT_FAILED
    return None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _guard(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            explained = explain(exc)
            if explained is None:
                raise
            fail(*explained)

    return guarded


class _FlagsWithoutType:
    """Help shows ``--json`` as a flag, not ``--json <bool>`` (typer 0.29 labels every option's type)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


class OperatorCommand(_FlagsWithoutType, TyperCommand):
    """A command whose help lists flags without a type."""


class OperatorGroup(_FlagsWithoutType, TyperGroup):
    """A command group whose help lists flags without a type."""


def finish_commands(app: typer.Typer) -> None:
    """Wrap every command (sub-commands included) so an expected condition is one line, never a traceback,
    and list flags in help without a type (groups: ``typer.Typer(cls=OperatorGroup)``)."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = OperatorCommand
        if info.callback is not None:
            info.callback = _guard(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            finish_commands(group.typer_instance)
