"""``storyrec-dev simulate --demo``: the short run that shows a second training judged against the first.

The window is chosen from today's date (UTC): the run contains two 1st-of-month nights (the monthly
training's schedule), the first after ``DEMO_LEAD_DAYS`` days of clicks so its imports reach the engine's
minimums and the first version is promoted against the popularity baseline, the second judged against
that serving version; the run's last night is the second 1st, and it is in the engine's past (before
today, as the default ``--start`` keeps it). The end prints each training's decision as the product
reported it (the decision's SNS report, word for word, wrapped at 80 columns) and the lift table.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DEMO_LEAD_DAYS = 12
"""Days of clicks before the first training: the engine trains on at least 1,000 interactions (Personalize's
minimum) and held days import once they add up to 1,000 rows; 300 readers click 85-200 times a day while
nothing serves (1,171 rows in the first 9 days of the 2026-12-06 run), so 12 days leave a margin."""
DEMO_READERS = 300
DEMO_FAULTS = Path(__file__).with_name("demo_faults.json")
"""No scheduled faults, the steady hostile writes only: the demo shows the learning loop; the default plan's
faults are the CI test's and the long runs' (over 40 days its expiries and redeliveries meet in ways the
invariants flag, docs/simulate.md, "The demo preset")."""
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
        if t.get("served_by_operator"):
            lines.append("(nothing served: the simulated operator deployed it by its promote command)")
        blocks.append("\n".join(lines))
    return wrap("\n\n".join(blocks)) if blocks else "no training ran"
