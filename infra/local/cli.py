"""``storyrec-dev``: the development commands (the local cloud stack and the demo), never deployed.

``storyrec`` (shared/cli) keeps the operator commands; these live with the dev tooling they drive,
so nothing the functions ship imports ``infra``.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.local.stack import DEFAULT_STATE_DIR, LocalStack, StackError, provision_buckets, shell_exports
from shared.cli.common import OperatorCommand, OperatorGroup
from shared.config import Settings
from shared.errors import ConfigError

app = typer.Typer(
    cls=OperatorGroup,
    help="storyrec development tooling: the local cloud stack and the demo.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, paragraphs re-flowed to the terminal (as the operator CLI's)
)
stack_app = typer.Typer(
    cls=OperatorGroup,
    help="Start, stop and inspect the local stand-ins of the clouds.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(stack_app, name="stack")
_console = Console(stderr=True)


def _log(message: str) -> None:
    _console.print(message, markup=False, highlight=False)


StateDir = Annotated[
    Path | None, typer.Option("--state-dir", envvar="STORYREC_STACK_DIR", help="Where pids, ports and logs live.")
]
Services = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only these (firestore, pubsub, moto, gcs, personalize).")
]


def _stack(state_dir: Path | None) -> LocalStack:
    return LocalStack(state_dir or DEFAULT_STATE_DIR)


def _fail(what: str, exc: StackError | ConfigError) -> typer.Exit:
    _console.print(f"{what} failed: {exc}", style="red", markup=False, soft_wrap=True)
    return typer.Exit(1)


def _state_flag(state_dir: Path | None) -> str:
    """The ``--state-dir`` the hints must repeat (none for the default or one set by STORYREC_STACK_DIR)."""
    if state_dir is None or os.environ.get("STORYREC_STACK_DIR") == str(state_dir):
        return ""
    return f" --state-dir {shlex.quote(str(state_dir))}"


@stack_app.command()
def up(state_dir: StateDir = None, service: Services = None) -> None:
    """Start every service that is not already healthy, create the import and backup buckets, print the exports.

    The buckets are what production's deploys create (serverless.yml; docs/deploy.md 1.3), named by
    STORYREC_IMPORT_BUCKET and STORYREC_BACKUP_BUCKET (defaults storyrec-import, storyrec-backup).
    """
    try:
        env = _stack(state_dir).up(tuple(service) if service else None, log=_log)
        settings = Settings.from_env({**os.environ, **env})
        for line in provision_buckets(env, settings.import_bucket, settings.backup_bucket):
            _log(line)
    except (StackError, ConfigError) as exc:
        raise _fail("stack up", exc) from exc
    hint = f'eval "$(storyrec-dev stack env{_state_flag(state_dir)})"'
    _console.print(f"[green]stack is up[/green]; load it with: {hint}", soft_wrap=True)
    typer.echo(shell_exports(env))


@stack_app.command()
def down(
    state_dir: StateDir = None,
    forget: bool = typer.Option(False, help="Stop nothing; move the state file aside (e.g. when it is corrupt)."),
) -> None:
    """Stop every service this stack provably started (whole process groups: no orphan java)."""
    try:
        _stack(state_dir).down(forget=forget, log=_log)
    except StackError as exc:
        raise _fail("stack down", exc) from exc


@stack_app.command()
def status(state_dir: StateDir = None) -> None:
    """Report each service as healthy, unhealthy or down. Exit 1 unless all recorded ones are healthy."""
    try:
        report = _stack(state_dir).status()
    except StackError as exc:
        raise _fail("stack status", exc) from exc
    table = Table("service", "status")
    for name, state in report.items():
        colour = "green" if state.startswith("healthy") else "red" if state.startswith("unhealthy") else "dim"
        table.add_row(name, f"[{colour}]{state}[/{colour}]")
    Console().print(table)
    if any(s != "down" and not s.startswith("healthy") for s in report.values()):
        raise typer.Exit(1)


@stack_app.command()
def env(state_dir: StateDir = None) -> None:
    """Print ``export`` lines pointing the SDKs at the stack: eval "$(storyrec-dev stack env)".

    Exit 1, printing nothing on stdout, when no service of this stack is running.
    """
    stack = _stack(state_dir)
    try:
        report = stack.status()
        if all(state.startswith("down") for state in report.values()):
            where = stack.state_dir
            _console.print(
                f"no local stack is running in {where}: start it with `storyrec-dev stack up{_state_flag(state_dir)}`",
                style="red",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        typer.echo(shell_exports(stack.env()))
    except StackError as exc:
        raise _fail("stack env", exc) from exc


@app.command()
def demo(
    state_dir: StateDir = None,
    keep: bool = typer.Option(False, help="Leave the stack running (and the homepage, until Ctrl-C)."),
) -> None:
    """Bring the stack up, run the pipeline's stages locally for real, print what happened, stop the stack."""
    # imported here: loading the demo (SDKs, numpy, pandas) takes 0.6-0.9 s against 0.08 s for this module
    # (python -X importtime, 2026-12-06); `storyrec-dev stack env`, eval'ed by shells, should not pay it
    from infra.local.demo.runner import run_demo

    raise typer.Exit(run_demo(state_dir, keep=keep, console=Console()))


@app.command()
def simulate(
    days: Annotated[int | None, typer.Option("--days", min=1, max=3650, help="Simulated days (default 5).")] = None,
    readers: Annotated[
        int | None, typer.Option("--readers", min=2, max=1_000_000, help="Readers over the run (default 50).")
    ] = None,
    seed: int = typer.Option(0, "--seed", help="Seed of the readers and the app."),
    faults: Annotated[
        Path | None, typer.Option("--faults", help="Fault plan (JSON); default: the built-in plan.")
    ] = None,
    readers_model: str = typer.Option("stable", "--readers-model", help="Reader model: stable or drifting."),
    start: Annotated[
        datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="First simulated day (UTC).")
    ] = None,
    state_dir: StateDir = None,
    promotion: str = typer.Option(
        "offline", "--promotion", help="offline: the offline rule promotes; online: the challenger test decides."
    ),
    control_share: Annotated[
        float | None, typer.Option("--control-share", min=0.0, max=0.5, help="Control arm's share (default 0.05).")
    ] = None,
    challenger_share: Annotated[
        float | None,
        typer.Option("--challenger-share", min=0.0, max=0.5, help="Challenger arm's share (default 0.10)."),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="A product setting for the run, STORYREC_NAME=VALUE (repeatable)."),
    ] = None,
    demo: bool = typer.Option(
        False,
        "--demo",
        help="The demo preset: 300 readers, no scheduled faults, dates chosen from today so two monthly trainings "
        "run, the second judged against the first; prints each decision's report and the lift table at 80 columns.",
    ),
) -> None:
    """Live N simulated days of the pipeline on the local stack; exit 1 on any invariant violation."""
    from infra.local.readers import MODELS
    from infra.local.simulate import demo as preset
    from infra.local.simulate.faults import PlanError, load_plan
    from infra.local.simulate.run import SimConfig, quality_lines, run_simulation

    if demo and (days is not None or start is not None):
        _console.print("--demo chooses --days and --start itself: give neither", style="red", markup=False)
        raise typer.Exit(2)
    if demo:
        from shared.wiring import utc_now

        first_day, days = preset.demo_window(utc_now().date())
        start = datetime.combine(first_day, datetime.min.time())
        readers = readers or preset.DEMO_READERS
        faults = faults or preset.DEMO_FAULTS
        control_share = preset.DEMO_CONTROL_SHARE if control_share is None else control_share
        _log(preset.intro_text(first_day, days, readers, control_share))
    days, readers = days or 5, readers or 50

    if readers_model not in MODELS:
        _console.print(f"--readers-model must be one of {sorted(MODELS)}", style="red", markup=False)
        raise typer.Exit(2)
    try:
        load_plan(faults)
    except PlanError as exc:
        _console.print(f"bad fault plan: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    pairs = [item.partition("=") for item in setting or []]
    config = SimConfig(
        days,
        readers,
        seed,
        readers_model,
        faults,
        state_dir,
        start.date() if start else None,
        promotion=promotion,
        control_share=control_share,
        challenger_share=challenger_share,
        env={k.strip(): v for k, eq, v in pairs if eq},
    )
    try:
        if any(not eq for _, eq, _ in pairs):
            raise ValueError("--set takes STORYREC_NAME=VALUE")
        config.settings_env()
    except ValueError as exc:
        _console.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc
    try:
        progress = (lambda record: _log(preset.day_line(record, days))) if demo else None
        result = run_simulation(config, log=_log, progress=progress)
    except (StackError, ConfigError) as exc:
        raise _fail("simulate", exc) from exc
    facts = result.facts
    trainings = [(t.get("name"), t.get("decision") or t.get("deferred") or t.get("failed")) for t in facts["trainings"]]
    _log(
        f"{facts.get('wall_seconds')} s wall, {facts.get('days_per_minute')} simulated days per minute"
        + ("" if demo else f"; trainings: {trainings}")
    )
    for line in quality_lines(facts.get("quality", {})):
        _log(line)
    for t in [] if demo else facts.get("online_tests") or []:
        if "experiment_id" in t:
            _log(
                f"online test {t['experiment_id']}: {t.get('action')} after {t.get('days')} day(s), "
                f"exposed {t.get('exposed')}"
            )
        elif t.get("decision") in ("test", "promote", "retire"):
            _log(f"version {t.get('version')}: {t.get('decision')}: {'; '.join(t.get('reasons') or [])}")
    from infra.local.simulate.lift import render

    if demo:
        _log("\nThe monthly trainings, each decision as the product reported it over SNS:")
        _log(preset.trainings_text(facts["trainings"], facts.get("decision_reports") or {}))
        _log("\n" + preset.HOW_TO_READ)
    _console.print(render(facts.get("lift") or {}, narrow=demo), markup=False, soft_wrap=True)
    colour = "green" if result.violations == 0 else "red"
    if demo:
        _console.print(
            f"\n[{colour}]{result.days} days: {result.violations} invariant violation(s)[/{colour}], "
            f"{result.not_checked} check(s) not made",
            soft_wrap=True,
        )
        _console.print(
            preset.where_text(facts.get("report"), result.ledger), markup=False, highlight=False, soft_wrap=True
        )
    else:
        _console.print(
            f"[{colour}]{result.days} days: {result.violations} invariant violation(s)[/{colour}], "
            f"{result.not_checked} check(s) not made; ledger {result.ledger}; report {result.facts.get('report')}",
            soft_wrap=True,
        )
    raise typer.Exit(0 if result.violations == 0 else 1)


for _typer in (app, stack_app):  # flags listed without a type (``--demo``, not ``--demo <bool>``)
    for _info in _typer.registered_commands:
        _info.cls = _info.cls or OperatorCommand


def main() -> None:
    """Console-script entry point (``storyrec-dev``)."""
    app()
