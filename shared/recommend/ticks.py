"""One feed fill per scheduled tick: a create-only claim keyed by the tick's run id.

Cloud Scheduler delivers at least once (a retry after a lost answer, an operator's "force run" of the same
tick) and the Functions emulator's readiness probe reaches the function too. The claim
``{state}/feed_run_{run_id}`` makes a second delivery of a tick a no-op. A fill that raised releases its
claim, so the scheduler's retry runs it again; a claim left ``running`` by a run that died (its instance
was stopped past the function's timeout) is taken over once, by a second create-only claim.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shared.logs import get_logger
from shared.recommend.deps import FeedDeps, FillSummary

_log = get_logger("recommend.ticks")

DEAD_AFTER = timedelta(minutes=65)
"""A claim still ``running`` this long after it was made belongs to a run that died: the function's timeout is
1 h, and Cloud Scheduler's first retry comes 10 min after it (min_backoff_seconds), so that retry takes over."""


def claim_path(deps: FeedDeps, run_id: str) -> str:
    return f"{deps.collections.state}/feed_run_{run_id}"


def claim_tick(deps: FeedDeps, run_id: str) -> bool:
    """True if this delivery owns the tick ``run_id``: the first one, or the one taking over a dead run."""
    path = claim_path(deps, run_id)
    now = deps.clock()
    if deps.docs.create(path, {"runId": run_id, "status": "running", "claimedAt": now}):
        return True
    found = deps.docs.get(path) or {}
    claimed = found.get("claimedAt")
    if found.get("status") != "running" or not isinstance(claimed, datetime):
        return False
    try:
        dead = now - claimed >= DEAD_AFTER
    except TypeError:  # a naive stamp cannot be compared: not taken over
        return False
    if not dead:
        return False
    takeover = f"{path}_takeover_{int(claimed.timestamp())}"
    if not deps.docs.create(takeover, {"runId": run_id, "claimedAt": now}):
        return False
    deps.docs.set(path, {"runId": run_id, "status": "running", "claimedAt": now, "tookOver": claimed})
    return True


def fill_once(deps: FeedDeps, run_id: str, fill: Callable[[FeedDeps, str], FillSummary]) -> FillSummary | None:
    """Run ``fill`` for the tick ``run_id`` unless another delivery of it has (or is running it); None then."""
    if not claim_tick(deps, run_id):
        _log.info("feed fill skipped: this tick was already delivered", extra={"run_id": run_id})
        return None
    try:
        summary = fill(deps, run_id)
    except BaseException:
        deps.docs.delete(claim_path(deps, run_id))  # released: the scheduler's retry runs the tick again
        raise
    deps.docs.set(
        claim_path(deps, run_id),
        {"status": "done", "finishedAt": deps.clock(), "users": summary.users},
        merge=True,
    )
    return summary
