"""What every operator command shares: exit codes, settings, JSON output and the console.

Exit codes scripts can trust: 0 ok, 1 refused or a failed check, 2 usage or configuration.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from shared.config import Settings
from shared.errors import ConfigError

EXIT_FAILED, EXIT_USAGE = 1, 2

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
