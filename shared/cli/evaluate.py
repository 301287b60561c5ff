"""``storyrec evaluate [--recipe R ...] [--manifest KEY ...] [--json]``: recipes side by side, before a campaign."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, EXIT_USAGE, Json, console, fail, load_settings, print_json
from shared.errors import StoryrecError
from shared.manifest import manifest_keys, manifests_prefix
from shared.operate.evaluate import BASELINE, DEFAULT_RECIPES, remove_scratch_group
from shared.operate.evaluate import evaluate as run
from shared.personalize.metrics import metric_label

KNOWN_RECIPES = (
    "aws-user-personalization",
    "aws-user-personalization-v2",
    "aws-popularity-count",
    "aws-trending-now",
    "aws-personalized-ranking",
    "aws-personalized-ranking-v2",
    "aws-similar-items",
    "aws-sims",
    "aws-semantic-similarity",
    "aws-item-affinity",
    "aws-item-attribute-affinity",
    "aws-next-best-action",
)
"""Amazon Personalize's custom recipes (its developer guide, "Choosing a recipe"); anything else is a typo."""

Recipes = Annotated[
    list[str] | None,
    typer.Option(
        "--recipe",
        "-r",
        help="Recipe name or ARN (repeatable). Default: aws-user-personalization, aws-popularity-count, "
        "aws-trending-now.",
    ),
]
Manifests = Annotated[
    list[str] | None, typer.Option("--manifest", "-m", help="Export manifest key (repeatable). Default: every one.")
]
Cleanup = Annotated[
    bool, typer.Option("--cleanup", help="Delete the scratch dataset group and its contents after reading the metrics.")
]
Timeout = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to wait for imports and training.")]


def evaluate(
    recipes: Recipes = None,
    manifests: Manifests = None,
    timeout: Timeout = 3600.0,
    cleanup: Cleanup = False,
    json_: Json = False,
) -> None:
    """Train one solution version per recipe on the exported CSVs and print their offline metrics side by side.

    Runs against whatever Personalize endpoint boto3 is given: the local engine
    (AWS_ENDPOINT_URL_PERSONALIZE, from `storyrec-dev stack env`) costs nothing; Amazon Personalize
    bills the training hours but no campaign. The data go to a scratch dataset group named after
    the exports (a rerun reuses it; `--cleanup` deletes it afterwards). Exit codes: 0 every recipe
    trained, 1 an import, a training or the cleanup failed, 2 configuration or a bad recipe.
    """
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    settings = load_settings()
    chosen = list(recipes or DEFAULT_RECIPES)
    bad = [
        r
        for r in chosen
        if r.rsplit(":recipe/", 1)[-1] not in KNOWN_RECIPES or r.startswith("arn:") != (":recipe/" in r)
    ]
    if bad:
        fail(f"unknown recipe {', '.join(bad)}: use a name (or ARN) of {', '.join(KNOWN_RECIPES)}", EXIT_USAGE)
    deps = wiring.stage_deps(settings)
    if not manifests and not manifest_keys(deps.bucket, settings.import_prefix):
        where = f"s3://{settings.import_bucket}/{manifests_prefix(settings.import_prefix)}"
        fail(f"no export manifest in {where}: run `storyrec export` first", EXIT_FAILED)
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
        disable=json_,
    ) as bar:

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        try:
            result = run(deps, chosen, manifests, timeout=timeout, progress=progress)
        except StoryrecError as exc:
            fail(f"evaluation failed: {exc}", EXIT_FAILED)
    removed: list[str] = []
    if cleanup:
        try:
            removed = remove_scratch_group(deps, result.dataset_group_arn, timeout=timeout)
        except StoryrecError as exc:
            fail(f"cleanup failed: {exc}", EXIT_FAILED)
    if json_:
        print_json({**asdict(result), "deleted": removed})
    else:
        _table(result)
        if removed:
            console.print(f"deleted the scratch dataset group and {len(removed) - 1} resource(s) in it")
    if any(r.status != "ACTIVE" for r in result.results):
        raise typer.Exit(EXIT_FAILED)


def _table(result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"offline metrics ({len(result.manifests)} export(s), group {result.dataset_group_arn})")
    table.add_column("metric")
    for r in result.results:
        table.add_column(r.recipe + (" (baseline)" if r.recipe == BASELINE else ""), justify="right")
    for metric in result.metric_names():
        best = result.best(metric)
        cells = []
        for r in result.results:
            value = r.metrics.get(metric)
            text = "-" if value is None else f"{value:.4f}"
            cells.append(f"[b green]{text}[/]" if r.recipe == best else text)
        table.add_row(metric_label(metric), *cells)
    table.add_row("status", *[r.status for r in result.results])
    console.print(table)
    for r in result.results:
        if r.failure_reason:
            console.print(f"{r.recipe}: {r.failure_reason}", style="red", markup=False)
    primary = "normalized_discounted_cumulative_gain_at_10"
    for r in result.results:
        beats = result.beats_baseline(r.recipe, primary)
        if r.recipe != BASELINE and beats is not None:
            verdict = "beats" if beats else "does NOT beat"
            console.print(f"{r.recipe} {verdict} the popularity baseline on {metric_label(primary)}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the operator CLI."""
    app.command("evaluate")(evaluate)
