"""``storyrec stack up|down|status|env`` and ``storyrec demo``: the local cloud stack for development."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Start, stop and inspect the local stand-ins of the clouds (dev tooling).",
                  no_args_is_help=True)
_console = Console(stderr=True)


def _log(message: str) -> None:
    _console.print(message, markup=False, highlight=False)

StateDir = Annotated[
    Path | None, typer.Option("--state-dir", envvar="STORYREC_STACK_DIR", help="Where pids, ports and logs live.")
]
Services = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only these (firestore, pubsub, moto, gcs, personalize).")
]


def _stack(state_dir: Path | None):  # type: ignore[no-untyped-def]
    from infra.local.stack import DEFAULT_STATE_DIR, LocalStack

    return LocalStack(state_dir or DEFAULT_STATE_DIR)


@app.command()
def up(state_dir: StateDir = None, service: Services = None) -> None:
    """Start every service that is not already healthy, then print the exports."""
    from infra.local.stack import StackError, shell_exports

    try:
        env = _stack(state_dir).up(tuple(service) if service else None, log=_log)
    except StackError as exc:
        _console.print(f"stack up failed: {exc}", style="red", markup=False)
        raise typer.Exit(1) from exc
    _console.print("[green]stack is up[/green]; load it with: eval \"$(storyrec stack env)\"")
    typer.echo(shell_exports(env))


@app.command()
def down(state_dir: StateDir = None) -> None:
    """Stop every service of the stack (whole process groups: no orphan java)."""
    _stack(state_dir).down(log=_log)


@app.command()
def status(state_dir: StateDir = None) -> None:
    """Report each service as healthy, unhealthy or down. Exit 1 unless all started ones are healthy."""
    report = _stack(state_dir).status()
    table = Table("service", "status")
    for name, state in report.items():
        colour = "green" if state.startswith("healthy") else "red" if state.startswith("unhealthy") else "dim"
        table.add_row(name, f"[{colour}]{state}[/{colour}]")
    Console().print(table)
    if any(s.startswith("unhealthy") for s in report.values()):
        raise typer.Exit(1)


@app.command()
def env(state_dir: StateDir = None) -> None:
    """Print ``export`` lines pointing the SDKs at the stack: eval "$(storyrec stack env)"."""
    from infra.local.stack import shell_exports

    typer.echo(shell_exports(_stack(state_dir).env()))


def register_demo(root: typer.Typer) -> None:
    """Add ``storyrec demo`` to the root app."""

    @root.command()
    def demo(state_dir: StateDir = None, keep: bool = typer.Option(False, help="Leave the stack running.")) -> None:
        """Bring the stack up, run the pipeline's stages locally for real, print what happened, stop the stack."""
        from infra.local.demo import run_demo

        raise typer.Exit(run_demo(state_dir, keep=keep, console=Console()))
