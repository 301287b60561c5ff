"""The dataset release at the run's end: the simulated operator runs ``storyrec publish-dataset`` (the product's
CLI, reading the backup bucket as deployed), and the invariant checks what it wrote against the ground truth.

A simulated app is small, so the operator lowers the two size settings the product leaves to them
(``--min-users``: the product refuses below 1,000 released users; ``--min-readers``: a story needs 20 readers);
everything that protects the readers (the week grain, the history cap, (2, 3)-anonymity, the 5 % refusal
threshold, the DP counts) stays the product's default.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.local.environ import environment
from infra.local.simulate.invariants import Check, Key, not_checked, ok, violated
from infra.local.simulate.world import World, accepted

KEY = "storyrec-simulate-release-key-not-a-secret-0001"
"""The HMAC key of the run's release (``STORYREC_PUBLISH_KEY``): a test value, never a real one."""
OPERATOR_ARGS = ("--min-users", "5", "--min-readers", "2")
NOT_PUBLISHED = ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION")
NAME = "dataset release"


def publish(out_dir: Path, args: Iterable[str] = OPERATOR_ARGS) -> dict[str, Any]:
    """``storyrec publish-dataset OUT_DIR ARGS`` as the operator types it: its exit code and output."""
    from typer.testing import CliRunner

    from shared.cli import app

    argv = ["publish-dataset", str(out_dir), *args]
    with environment({"STORYREC_PUBLISH_KEY": KEY}):
        result = CliRunner().invoke(app, argv)
    return {"command": "storyrec " + " ".join(argv), "exit": result.exit_code, "output": result.output.strip()[-2000:]}


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def check_release(world: World, exported: Iterable[Key], out_dir: Path, outcome: dict[str, Any]) -> list[Check]:
    """What ``publish-dataset`` promises (docs/release.md), checked against the readers' ground truth:

    * a refusal (exit 1) wrote nothing; it is ``not checked`` (the product's reason named), a crash is violated;
    * each file's sha256 is the one ``release.json`` records; no attribution column is published;
    * every USER_ID is the keyed pseudonym of a reader, never a uid, and the key is in no file;
    * every released row is an accepted, exported click of that reader (story, type, time at the grain): nothing
      hostile, nothing the export did not carry; released + removed = every exported row, read once;
    * at least ``min_users`` users, at most ``max_items_per_user`` stories each.
    """
    from shared.publish import pseudonym
    from shared.release.transforms import coarse_time

    files = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
    if outcome.get("exit") == 1:
        why = outcome.get("output", "")
        if files:
            return [violated(NAME, "refused, but wrote files", files)]
        return [not_checked(NAME, f"the release refused (nothing written): {why}")]
    if outcome.get("exit") != 0 or "release.json" not in files:
        return [violated(NAME, f"publish-dataset exited {outcome.get('exit')}", [outcome.get("output", "")])]
    meta = json.loads((out_dir / "release.json").read_text(encoding="utf-8"))
    problems: list[str] = []
    for name, digest in sorted(meta.get("files", {}).items()):
        if hashlib.sha256((out_dir / name).read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: sha256 differs from release.json")
    for name in files:
        if KEY in (out_dir / name).read_text(encoding="utf-8", errors="replace"):
            problems.append(f"{name} holds the pseudonymisation key")
    columns, rows = _rows(out_dir / "interactions.csv")
    problems += [f"column {c} published" for c in NOT_PUBLISHED if c in columns]
    readers = sorted({*world.readers, *world.left, *(c.uid for c in world.clicks)})
    names = {pseudonym(KEY.encode(), uid): uid for uid in readers}
    exported_keys = set(exported)
    settings = meta.get("settings", {})
    grain = str(settings.get("time_grain"))
    truth: dict[tuple[str, str, str], set[int]] = {}  # (pseudonym, story, type) -> exported click times
    for c in world.clicks:
        if accepted(c) and c.key in exported_keys:
            truth.setdefault((pseudonym(KEY.encode(), c.uid), c.sid, c.type), set()).add(c.key[2])
    raw = set(readers)
    stories: dict[str, set[str]] = {}
    for row in rows:
        user, item, kind = row.get("USER_ID", ""), row.get("ITEM_ID", ""), row.get("EVENT_TYPE", "")
        if user in raw:
            problems.append(f"a uid is published: {user}")
        elif user not in names:
            problems.append(f"USER_ID {user} is no reader's pseudonym")
        times = truth.get((user, item, kind))
        if not times:
            problems.append(f"row {user[:8]}.. {item} {kind}: no accepted exported click of that reader")
        elif grain != "order" and int(row.get("TIMESTAMP", "-1")) not in {coarse_time(t, grain) for t in times}:  # type: ignore[arg-type]
            problems.append(f"row {user[:8]}.. {item} {kind}: TIMESTAMP {row.get('TIMESTAMP')} matches no click")
        stories.setdefault(user, set()).add(item)
    if meta.get("interactions") != len(rows):
        problems.append(f"release.json says {meta.get('interactions')} interactions, the file has {len(rows)}")
    read = int(meta.get("interactions", 0)) + int(meta.get("interactions_removed", 0))
    if read != len(exported_keys):
        problems.append(f"the release read {read} rows, the exports hold {len(exported_keys)} accepted clicks")
    if len(stories) < int(settings.get("min_users", 0)):
        problems.append(f"{len(stories)} users released, under min_users {settings.get('min_users')}")
    cap = settings.get("max_items_per_user")
    over = [u for u, s in stories.items() if isinstance(cap, int) and len(s) > cap]
    problems += [f"{u[:8]}.. has more than {cap} stories" for u in over]
    if problems:
        return [violated(NAME, f"{len(problems)} problem(s) in the release", problems)]
    return [
        ok(
            NAME,
            f"{len(rows)} rows of {len(stories)} pseudonymous readers from {read} exported clicks "
            f"({meta.get('interactions_removed')} removed by the release's transforms), {grain} grain",
        )
    ]
