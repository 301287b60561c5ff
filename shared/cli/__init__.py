"""The operator CLI: ``storyrec backfill|export ...``.

Development commands (the local stack, the demo) are ``storyrec-dev`` in ``infra/local/cli.py``:
what ships never imports the dev tooling.
"""

from __future__ import annotations

import typer

from shared.cli import backfill, export, publish, report

app = typer.Typer(help="storyrec: personalised story recommendations for a Firebase news app.", no_args_is_help=True)
backfill.register(app)
export.register(app)
publish.register(app)
report.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
