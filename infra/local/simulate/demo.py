"""``storyrec-dev simulate --demo``: the short run that shows a second training judged against the first.

The window is chosen from today's date (UTC): the run contains two 1st-of-month nights (the monthly
training's schedule), the first after ``DEMO_LEAD_DAYS`` days of clicks so its imports reach the engine's
minimums and the first version is promoted against the popularity baseline, the second judged against
that serving version; the run's last night is the second 1st, and it is in the engine's past (before
today, as the default ``--start`` keeps it). The end prints each training's decision as the product
reported it (the decision's SNS report, word for word, wrapped at 80 columns) and the lift table.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from infra.local.demo.summary import metrics_caption

DEMO_LEAD_DAYS = 12
"""Days of clicks before the first training: the engine trains on at least 1,000 interactions (Personalize's
minimum) and held days import once they add up to 1,000 rows; 300 readers click 85-200 times a day while
nothing serves (1,171 rows in the first 9 days of the 2026-12-06 run), so 12 days leave a margin."""
DEMO_READERS = 300
DEMO_FAULTS = Path(__file__).with_name("demo_faults.json")
"""No scheduled faults, the steady hostile writes only: the demo shows the learning loop; the default plan's
faults are the CI test's and the long runs' (over 40 days its expiries and redeliveries meet in ways the
invariants flag, docs/simulate.md, "The demo preset")."""
DEMO_CONTROL_SHARE = 0.2
"""The control arm's share in the demo (the product's default is 0.05): at 300 readers 5 % is about 14
readers, and the lift's 95 % interval spanned -65 % to +33 % (docs/simulate.md, "The demo preset"); 20 %
(about 57) roughly halves it (the interval goes as sqrt(1/control + 1/champion)), while 80 % of the readers
still get the serving version's feeds. ``--control-share`` may change it."""
WIDTH = 80


def demo_window(today: date, lead_days: int = DEMO_LEAD_DAYS) -> tuple[date, int]:
    """(start, days) of the demo run for ``today``: the final night (``start + days``, where the run's last
    export, import, training and fill happen) is the latest 1st of a month before today, and the previous
    1st falls ``lead_days`` days after the start."""
    if lead_days < 1:
        raise ValueError("lead_days must be at least 1 (day 0 has no night)")
    yesterday = today - timedelta(days=1)
    second = yesterday.replace(day=1)
    first = (second - timedelta(days=1)).replace(day=1)
    start = first - timedelta(days=lead_days)
    return start, (second - start).days


def wrap(text: str, width: int = WIDTH) -> str:
    """Each line of ``text`` wrapped at ``width`` columns, a list item's continuation indented under it."""
    out: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        stripped = line.lstrip()
        lead = line[: len(line) - len(stripped)]
        hang = lead + ("  " if stripped.startswith("- ") else "    ")
        out += textwrap.wrap(line, width, subsequent_indent=hang, break_long_words=True, break_on_hyphens=False)
    return "\n".join(out)


def trainings_text(trainings: Iterable[Mapping[str, Any]], reports: Mapping[str, str]) -> str:
    """Each monthly training in plain words: the decision's report as the product sent it (``reports``: the
    SNS messages by subject), or why no decision came (a failed or deferred training)."""
    blocks: list[str] = []
    for n, t in enumerate(trainings, 1):
        head = f"Training {n}: {t.get('name') or '?'}"
        if t.get("deferred"):
            blocks.append(f"{head}\nno training: {t['deferred']}")
            continue
        failed = t.get("failed") or {}
        lines = [head] + [f"- {role} version failed: {why}" for role, why in sorted(failed.items())]
        decision, version = t.get("decision"), str(t.get("candidate") or "").rsplit("/", 1)[-1]
        subject = f"storyrec training: {decision} {version}"
        report = next((m for s, m in reports.items() if s.startswith(subject)), None) if version else None
        if decision is None:
            lines.append("no decision: no version had valid results by the end of the night")
        elif report is None:  # the report was not read back: the decision record's reasons
            lines += [f"Decision: {decision}"] + [f"- {r}" for r in t.get("reasons") or []]
        else:
            lines += [f"The decision's report (SNS), subject: {subject}", report.rstrip()]
        scored = t.get("metrics_readers")
        if decision is not None and isinstance(scored, Mapping):  # the report does not say how many readers
            lines.append(metrics_caption((int(scored.get("scored", 0)), int(scored.get("eligible", 0)))))
            if t.get("serving"):
                lines.append("(The serving version's metrics are those of its own training, on its readers then.)")
        if t.get("served_by_operator"):
            lines.append("(nothing served: the simulated operator deployed it by its promote command)")
        blocks.append("\n".join(lines))
    return wrap("\n\n".join(blocks)) if blocks else "no training ran"


def intro_text(start: date, days: int, readers: int, control_share: float) -> str:
    """What the run is, before it starts (80 columns)."""
    firsts = [d for d in (start + timedelta(days=k) for k in range(1, days + 1)) if d.day == 1]
    end = start + timedelta(days=days)
    trainings = (
        f" On {firsts[0].isoformat()} the monthly training makes a first version, judged against the popularity"
        f" baseline; on {firsts[1].isoformat()} a second one is judged against the serving one."
        if len(firsts) >= 2
        else f" The monthly training runs on the 1sts ({', '.join(d.isoformat() for d in firsts) or 'none here'})."
    )
    return textwrap.fill(
        f"storyrec demo: {days} simulated days ({start.isoformat()} to {end.isoformat()}) of the whole pipeline"
        f" on the local stack, with {readers} simulated readers who click on the feeds they are given. Every night"
        " the clicks are exported and imported into the local Personalize engine, and every morning each"
        f" reader's feed is filled (popular until a version serves).{trainings} Once a version serves,"
        f" {round(control_share * 100)} % of the readers are held out on popular feeds (the control arm) to"
        " measure its lift. Invariants are checked every day. One line per simulated day follows (readers,"
        " their clicks, the feeds written that morning); a few minutes.",
        WIDTH,
    )


def day_line(record: Mapping[str, Any], days: int) -> str:
    """One simulated day of the ledger in one short line; a second, indented, only for what stands out (the
    training's decision, stale feeds, a violated invariant)."""
    stages = record.get("stages") or {}
    day, feeds, training = stages.get("day") or {}, stages.get("feeds"), stages.get("training")
    when = str(record.get("date", "?"))
    with contextlib.suppress(ValueError):
        when = date.fromisoformat(when).strftime("%b %d")
    head = f"day {record.get('day', '?'):>2}/{days} {when}: "
    head += f"{day.get('readers', 0):>3} readers {day.get('clicks', 0):>4} clicks" if day else "the final night"
    if isinstance(feeds, Mapping):
        head += f"; feeds {feeds.get('personalized', 0):>3} personalized {feeds.get('popular', 0):>3} popular"
    elif record.get("day") == 0:
        head += "; first feeds popular"
    notes = []
    if isinstance(training, Mapping):
        decision = training.get("decision") or ("deferred" if training.get("deferred") else "no decision")
        version = str(training.get("candidate") or "").rsplit("/", 1)[-1]
        notes.append(f"training {training.get('name') or '?'}: {decision} {version}".rstrip())
    if isinstance(feeds, Mapping) and feeds.get("stale"):
        notes.append(f"{feeds['stale']} feeds kept, marked stale")
    violated = [c.get("name") for c in record.get("checks") or [] if c.get("status") == "violated"]
    if violated or record.get("violations"):
        notes.append(
            f"{record.get('violations') or len(violated)} invariant(s) violated: {', '.join(map(str, violated))}"
        )
    return "\n".join([wrap(head)] + ([wrap("  " + "; ".join(notes))] if notes else []))


HOW_TO_READ = textwrap.fill(
    'How to read the lift table: a test is a period with one serving version ("no test": before the first'
    " promotion). champion readers got that version's feeds, control readers the popularity feed."
    " clicks/reader is what they clicked in the period; lift/reader vs control is the champion's clicks per"
    " reader over the control's, with its 95% interval (an interval that spans 0% shows no measurable"
    " difference). exp./look: the expected clicks of one look at the feed, scored by the readers' true"
    " tastes; oracle: the best feed those tastes allow (the upper bound).",
    WIDTH,
)


def where_text(report: str | None, ledger: Path, cwd: Path | None = None) -> str:
    """Where the run's outputs are, relative to ``cwd`` when under it."""
    here = (cwd or Path.cwd()).resolve()

    def short(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(here))
        except ValueError:
            return str(path)

    rows = [("HTML report: ", short(Path(report)), " (open it in a browser)")] if report else []
    rows += [
        ("ledger:      ", short(ledger), " (a JSON record per day)"),
        ("lift table:  ", short(ledger.with_name("lift.json")), ""),
    ]
    # a path is never broken: a long one goes on a line of its own
    return "\n".join(
        f"{label}{path}{note}" if len(label + path + note) <= WIDTH else f"{label}{note.strip()}\n  {path}"
        for label, path, note in rows
    )
