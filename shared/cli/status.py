"""``storyrec status [--json] [--no-firestore]``: every stage of the pipeline at a glance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from shared import wiring
from shared.cli.common import EXIT_FAILED, Json, console, load_settings, missing_s3_bucket, print_json
from shared.operate.status import gather_status
from shared.personalize.online import verdict_table

NoFirestore = Annotated[
    bool, typer.Option("--no-firestore", help="Skip the Firestore sections (quarantine, feeds): AWS only.")
]
NoFeeds = Annotated[bool, typer.Option("--no-feeds", help="Skip reading feeds/* (it reads every feed).")]


def status(json_: Json = False, no_firestore: NoFirestore = False, no_feeds: NoFeeds = False) -> None:
    """Last export and its manifest, imports, solution versions with metrics, the campaign, feeds, quarantine, alerts.

    Read-only. Exit codes: 0 healthy, 1 a source could not be read or something failed (an import job, a
    solution version, a campaign update), 2 configuration.
    """
    from shared.adapters.counters import FirestoreCounter  # cold-start: google-cloud-firestore, +0.26 s

    settings = load_settings()
    deps = wiring.stage_deps(settings)
    docs = counter = None
    if not no_firestore:
        docs = wiring.document_store(settings)
        counter = FirestoreCounter(wiring.firestore_client(settings), timeout=settings.timeouts.firestore)
    with console.status("reading the pipeline's state", spinner="dots"):
        result = gather_status(deps, docs=docs, counter=counter, include_feeds=not no_feeds)
    if json_:
        print_json(result.as_dict())
    else:
        _render(result, settings.import_bucket)
    if not result.healthy:
        raise typer.Exit(EXIT_FAILED)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _short(arn: str | None) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "-"


def _render(s: Any, import_bucket: str) -> None:
    from rich.table import Table

    export = s.last_export
    console.rule(f"storyrec status · {_when(s.generated_at)} UTC")
    if export:
        rows = ", ".join(f"{k} {v:,}" for k, v in sorted(export.rows.items()))
        console.print(f"[b]export[/b]   {export.day} run {export.run_id}: {rows} ({export.exports_total} manifests)")
        console.print(f"         {export.manifest_key}", markup=False)
    else:
        console.print("[b]export[/b]   no manifest yet")
    if s.imports:
        i = s.imports
        console.print(
            f"[b]imports[/b]  {len(i.pending)} pending, {len(i.failed)} failed, {len(i.parked_manifests)} manifests "
            f"parked, {i.held_delta_rows:,} held delta rows"
        )
        for job in i.last:
            console.print(f"         {job.dataset:<12} {job.name} {job.status} {_when(job.created)}", markup=False)
        for job in i.failed:
            console.print(f"         FAILED {job.name}: {job.failure_reason}", style="red", markup=False)
    if s.training_request:
        console.print(f"[b]training[/b] deferred run {s.training_request} waits for imports")
    if s.versions is not None:
        table = Table(title="solution versions", title_justify="left")
        for column in ("solution", "version", "status", "created", "NDCG@10", "coverage", "decision"):
            table.add_column(column)
        serving = s.campaign.solution_version_arn if s.campaign else None
        for v in s.versions:
            m = v.metrics or {}
            ndcg, cov = m.get("normalized_discounted_cumulative_gain_at_10"), m.get("coverage")
            table.add_row(
                v.solution,
                _short(v.arn) + (" ★" if v.arn == serving else ""),
                v.status,
                _when(v.created),
                f"{ndcg:.4f}" if ndcg is not None else "-",
                f"{cov:.3f}" if cov is not None else "-",
                v.decision or "-",
            )
        console.print(table)
    c = s.campaign
    if c:
        update = f", update {c.update_status} → {_short(c.update_version_arn)}" if c.update_status else ""
        console.print(f"[b]campaign[/b] {_short(c.arn)} {c.status} serves {_short(c.solution_version_arn)}{update}")
    else:
        console.print("[b]campaign[/b] none yet (the first promotion creates it)")
    _tests(s)
    f = s.feeds
    if f:
        median = f"{f.median_hours:.1f} h" if f.median_hours is not None else "-"
        oldest = f"{f.oldest_hours:.1f} h" if f.oldest_hours is not None else "-"
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(f.by_kind.items()))
        console.print(f"[b]feeds[/b]    {f.feeds:,} ({kinds}); median age {median}, oldest {oldest}; {f.stale} stale")
        if f.by_arm:
            console.print("         by arm: " + ", ".join(f"{k} {n:,}" for k, n in sorted(f.by_arm.items())))
    if s.quarantine is not None:
        reasons = ", ".join(f"{k} {n:,}" for k, n in sorted(s.quarantine.items(), key=lambda kv: -kv[1])) or "none"
        console.print(f"[b]quarantine[/b] {reasons}")
    if s.alerts:
        console.print(f"[b]alerts[/b]   {len(s.alerts)} sent")
        for a in s.alerts[-5:]:
            console.print(f"         {a.subject}", markup=False)
    _problems(s.problems, import_bucket)
    console.print("[green]healthy[/green]" if s.healthy else "[red]needs attention[/red]")


def _tests(s: Any) -> None:
    """The challenger under test and the newest look at each test: arms, exposure, lifts, verdict."""
    current = s.current_test
    if current:
        console.print(
            f"[b]test[/b]     challenger {_short(current.get('challenger'))} vs champion "
            f"{_short(current.get('champion'))} since {current.get('started_at')}"
        )
    for look in (s.tests or [])[-2:]:
        console.print(verdict_table(look), markup=False, soft_wrap=True)


def _problems(problems: list[str], import_bucket: str) -> None:
    """Each unreadable source; those that failed on a missing import bucket in one line that names it."""
    no_bucket = [p.split(": ", 1)[0] for p in problems if "NoSuchBucket" in p]
    for problem in problems:
        if "NoSuchBucket" not in problem:
            console.print(f"unreadable: {problem}", style="red", markup=False, soft_wrap=True)
    if no_bucket:
        line = f"unreadable: {', '.join(no_bucket)}: {missing_s3_bucket(import_bucket)}"
        console.print(line, style="red", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``status`` to the operator CLI."""
    app.command("status")(status)
