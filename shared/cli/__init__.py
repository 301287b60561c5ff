"""The operator CLI: ``storyrec bootstrap|import|train|promote|status|evaluate|recommend|feeds|report ...``.

Development commands (the local stack, the demo) are ``storyrec-dev`` in ``infra/local/cli.py``:
what ships never imports the dev tooling.
"""

from __future__ import annotations

import typer

from shared.cli import backfill, bootstrap, evaluate, export, feeds, publish, rebuild, report, stage, status
from shared.cli.common import OperatorGroup, finish_commands

app = typer.Typer(
    cls=OperatorGroup,
    help="storyrec: personalised story recommendations for a Firebase news app.",
    no_args_is_help=True,
    rich_markup_mode=None,  # click's plain help: paragraphs re-flowed to the terminal, not at the docstring's breaks
)
bootstrap.register(app)
stage.register(app)
status.register(app)
evaluate.register(app)
feeds.register(app)
backfill.register(app)
export.register(app)
publish.register(app)
report.register(app)
rebuild.register(app)
finish_commands(app)


def main() -> None:
    """Console-script entry point."""
    app()
