"""The operator CLI: ``storyrec stack|demo|backfill|export ...``."""

from __future__ import annotations

import typer

from shared.cli import backfill, export, publish, report, stack

app = typer.Typer(help="storyrec: personalised story recommendations for a Firebase news app.", no_args_is_help=True)
app.add_typer(stack.app, name="stack")
stack.register_demo(app)
backfill.register(app)
export.register(app)
publish.register(app)
report.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
