"""The datasheet (README.md) and machine-readable manifest (release.json) written with every release.

The datasheet follows the sections of "Datasheets for Datasets" (Gebru et al., 2021) that a click
release can answer: motivation, composition, collection and preprocessing, uses, distribution, and
the measured risk and utility.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.release.risk import RiskReport
from shared.release.utility import UtilityFigure


@dataclass(frozen=True)
class ReleaseFacts:
    """Everything the datasheet states, gathered by the publisher."""

    users: int
    interactions: int
    items: int
    users_removed: int
    interactions_removed: int
    first_day: str
    last_day: str
    exports: tuple[str, ...]
    settings: Mapping[str, Any]
    """The transformation and refusal settings, as written to release.json."""
    risk: RiskReport
    utility: tuple[UtilityFigure, ...]
    licence: str
    columns: Mapping[str, Sequence[str]]
    """File name → its columns."""
    epsilon: float | None


def manifest_json(facts: ReleaseFacts, files: Mapping[str, str]) -> str:
    """release.json: counts, settings, measured risk and utility, and each file's sha256."""
    body = {
        "users": facts.users,
        "interactions": facts.interactions,
        "items": facts.items,
        "users_removed": facts.users_removed,
        "interactions_removed": facts.interactions_removed,
        "time_range": [facts.first_day, facts.last_day],
        "exports": list(facts.exports),
        "settings": dict(facts.settings),
        "risk": {"group_size": facts.risk.group_size, "figures": [f.as_dict() for f in facts.risk.figures]},
        "utility": [u.as_dict() for u in facts.utility],
        "differential_privacy": _dp(facts.epsilon, facts.settings),
        "licence": facts.licence,
        "files": dict(files),
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _dp(epsilon: float | None, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    if epsilon is None:
        return None
    return {
        "file": "item_counts.csv",
        "mechanism": "two-sided geometric (discrete Laplace), distinct readers per story",
        "epsilon": epsilon,
        "sensitivity": settings.get("max_items_per_user"),
        "scope": "item_counts.csv only; the interaction rows are not differentially private",
    }


def _risk_table(risk: RiskReport) -> str:
    ks = [f.k for f in risk.figures if f.with_time and f.knowledge == "history"]
    lines = ["| attacker knows | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---" * (1 + len(ks)) + "|"]
    rows = (
        (True, "history", "k of their reads, and when (at the released grain)"),
        (False, "history", "k of their reads, not when"),
        (True, "release", "k of their reads that this release kept, and when"),
        (False, "release", "k of their reads that this release kept, not when"),
    )
    for with_time, knowledge, label in rows:
        found = {f.k: f for f in risk.figures if (f.with_time, f.knowledge) == (with_time, knowledge)}
        if found:
            cells = [f"{found[k].singled_out:.1%} ({found[k].small_group:.1%})" if k in found else "n/a" for k in ks]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _utility_lines(utility: Sequence[UtilityFigure]) -> str:
    if not utility:
        return "Not measured for this release."
    rows = ["| model | recall@10, original | recall@10, this release | ratio |", "|---|---|---|---|"]
    rows += [f"| {u.model} | {u.original:.4f} | {u.release:.4f} | {u.ratio:.2f} |" for u in utility]
    return "\n".join(rows)


def _risk_note(m: object) -> str:
    informed = (
        f"(g, m)-anonymity makes them 0 for up to {m} known reads."
        if m
        else "Without (g, m)-anonymity the cap and the suppression protect mainly by making a known read likely "
        "to be missing, so against that attacker most users stay unique."
    )
    return (
        "The threshold is for the first two rows: what someone who knows a user's real reads can find. The last "
        "two rows are an attacker who also knows which of those reads the release kept (or who knows a whole "
        f"history and tries every subset): {informed} All figures are for exact matching; an attacker who "
        "tolerates mismatches, knows more reads, or combines this release with another made with the same key, "
        "does better. None of this is a formal guarantee; only `item_counts.csv` is differentially private."
    )


def _cap_line(cap: object) -> str:
    if not cap:
        return "Histories are not capped"
    return f"Users who read more than {cap} stories keep a random {cap} of them (all their events on those)"


def _suppression_line(readers: object) -> str:
    if not readers:
        return "No story is suppressed"
    return f"Stories with fewer than {readers} readers in the release are suppressed"


def _anonymity_line(m: object, group_size: object) -> str:
    if not m:
        return "No (g, m)-anonymisation: a combination of released reads may be unique to one user."
    return (
        f"Reads were suppressed until every {m} released (story, time) pairs a user has are shared by at least "
        f"{group_size} users ((g, m)-anonymity): knowing up to {m} of a user's released reads never singles them out."
    )


def datasheet(facts: ReleaseFacts) -> str:
    """README.md of the release: a datasheet with the measured risk and utility."""
    s = facts.settings
    cap = s.get("max_items_per_user")
    files = "\n".join(f"- `{n}`: {', '.join(c)}" for n, c in facts.columns.items() if n != "item_counts.csv")
    dp = (
        f"- `item_counts.csv` (ITEM_ID, READERS): readers per story with ε = {facts.epsilon} differential privacy "
        f"(two-sided geometric noise, sensitivity {cap}); this file alone is formally private.\n"
        if facts.epsilon is not None
        else ""
    )
    grain = s.get("time_grain")
    time_note = (
        "TIMESTAMP is the event's position (0, 1, …) in its user's history: no calendar time is released"
        if grain == "order"
        else f"TIMESTAMP (Unix seconds) is rounded down to the start of its {grain}"
        + (" (Monday 00:00 UTC)" if grain == "week" else "")
    )
    return f"""# storyrec interactions: public release (datasheet)

## Motivation
Story reading in the storyrec app, released so that anyone can train and compare recommenders on it.
Made by `storyrec publish-dataset` from the app's daily exports.

## Composition
{facts.interactions:,} interactions by {facts.users:,} users on {facts.items:,} stories, read between
{facts.first_day} and {facts.last_day} (exports {facts.exports[0]} to {facts.exports[-1]}), in Amazon
Personalize's bulk CSV format.
{files}
{dp}
EVENT_TYPE is one of open, read, comment, like, save; EVENT_VALUE is the seconds read (read events).
{time_note}. Rows are sorted by time, user and story, so their order reveals nothing finer.

## What was removed or transformed, and why
- User ids are pseudonyms: HMAC-SHA256 with a secret key (not part of the release), first 32 hex
  characters; nobody without the key can link them to an account.
- Free text (story summaries) and the users dataset (language, country) are left out: quasi-identifiers
  with nothing to add to a click dataset.
- Users with fewer than {s.get("min_events_per_user")} events were removed ({facts.users_removed:,} users,
  {facts.interactions_removed:,} interactions removed in all steps).
- Time is coarsened to `{grain}`: exact days let a few known reads single a reader out.
- {_cap_line(cap)}:
  long histories are the most identifying, and a known read may be missing from the release.
- {_suppression_line(s.get("min_item_readers"))}:
  a rarely read story points at its few readers.
- {_anonymity_line(s.get("anonymity_m"), s.get("group_size"))}

## Measured re-identification risk
Share of released users an attacker singles out (in brackets: leaves among fewer than
{facts.risk.group_size} users) when they know k of the user's reads — with or without when — and search
this release for histories containing all of them. Measured before writing; the release is refused
above {s.get("max_singled_out", 0):.0%} for k = {s.get("risk_k")}.

{_risk_table(facts.risk)}

{_risk_note(s.get("anonymity_m"))}

## Utility
Recommenders trained on this release vs on the original data, scored on the same held-out original
reads (each user's newest 20 % of stories):

{_utility_lines(facts.utility)}

## Uses
Intended: research and benchmarking of recommenders and reading-behaviour statistics. Not permitted:
any attempt to re-identify people, to link this data with other data about them, or to make decisions
about individuals.

## Distribution and licence
Licence: {facts.licence}. `release.json` lists the settings, the figures above and each file's sha256.
"""
