"""The operator CLI: ``storyrec stack|demo|backfill|export ...``."""

from __future__ import annotations

import contextlib

import typer

from shared.cli import stack

app = typer.Typer(help="storyrec: personalised story recommendations for a Firebase news app.", no_args_is_help=True)
app.add_typer(stack.app, name="stack")
stack.register_demo(app)

# Stage commands register themselves; a stage whose code is absent simply adds no command.
for _module in ("backfill", "export"):
    with contextlib.suppress(ModuleNotFoundError):
        __import__(f"shared.cli.{_module}", fromlist=["register"]).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
