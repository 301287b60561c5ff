"""The experiment's arms in a feed fill (docs/experiment.md): who is held out, who gets the challenger.

Control readers get the popularity feed (attribution source ``storyrec-control``); challenger readers get
feeds made by the candidate version under test through one batch inference job on the daily fill (no
second campaign; source ``storyrec-challenger``); everyone else is filled by the campaign as before.
Every feed carries its reader's ``arm`` and ``experimentId`` (:meth:`FeedRun.document`).

The fill keeps the test it used in ``ml_state/experiment`` (guarded like a feed), so a one-reader refresh
and a new reader's first feed assign the same arms without reaching AWS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from shared.config import ExperimentSettings
from shared.experiment.assign import Experiment, experiment_for, experiment_from_record, experiment_record
from shared.logs import get_logger
from shared.ports import NewerWrite
from shared.recommend.batch import fill_batch
from shared.recommend.deps import FeedDeps
from shared.recommend.run import FeedRun, add_whole_history
from shared.recommend.writer import FeedWriter, write_feeds

_log = get_logger("recommend")


def split(run: FeedRun, users: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(champion, challenger, control) readers among ``users``, by the run's experiment."""
    arms: dict[str, list[str]] = {"champion": [], "challenger": [], "control": []}
    for uid in users:
        arms[run.experiment.arm(uid)].append(uid)
    return arms["champion"], arms["challenger"], arms["control"]


def fill_control(run: FeedRun, users: Sequence[str], writer: FeedWriter) -> None:
    """The held-out readers' popularity feeds (no Personalize call), without anything they ever read."""
    add_whole_history(run, users)
    for uid in users:
        writer.add(run.cold(uid))


def fill_challenger(run: FeedRun, users: Sequence[str], writer: FeedWriter) -> None:
    """The challenger arm's feeds from the candidate version (batch inference); failures keep their previous
    feed, marked stale, like any failed reader."""
    candidate = run.experiment.challenger
    if not users or candidate is None:
        return
    if run.deps.batch_store is None:
        run.failures.update(dict.fromkeys(users, "the challenger arm needs the batch bucket (batch inference)"))
        return
    _log.info("challenger arm", extra={"users": len(users), "version": candidate})
    fill_batch(run, users, writer, version=candidate, tag="challenger")


EXPERIMENT_DOC = "experiment"


def save_experiment(deps: FeedDeps, experiment: Experiment, now: datetime) -> None:
    """Keep the run's test for the refresh, first-feed and export paths (an older run never replaces a newer
    one's). ``startedAt``: when a fill first used this test (kept while the test goes on)."""
    key = f"{deps.collections.state}/{EXPERIMENT_DOC}"
    stored = deps.docs.get(key) or {}
    same = stored.get("experimentId") == experiment.experiment_id and stored.get("startedAt") is not None
    data = {**experiment_record(experiment), "startedAt": stored["startedAt"] if same else now, "generatedAt": now}
    write_feeds(deps.docs, [NewerWrite(key, data, now)])


def stored_experiment(deps: FeedDeps, serving: str | None) -> Experiment:
    """The test the last fill used, if it was made for the version serving now (else: no test)."""
    found = experiment_from_record(deps.docs.get(f"{deps.collections.state}/{EXPERIMENT_DOC}"))
    if found.experiment_id is None or (serving is not None and found.champion != serving):
        return Experiment(None)
    return found


def experiment_from_state(settings: ExperimentSettings, state: bytes | None, serving: str | None) -> Experiment:
    """The test while ``serving`` is the campaign's version: the challenger from the AWS stage's
    ``experiment.json`` (written when the offline rule admits a candidate, promotion mode ``online``) if it
    was admitted against this champion; else the control arm's holdout alone. Unreadable state: holdout."""
    challenger = None
    try:
        current = json.loads(state) if state else None
    except ValueError:
        current = None
    if isinstance(current, dict) and current.get("champion") == serving and isinstance(current.get("challenger"), str):
        challenger = current["challenger"]
    return experiment_for(serving, challenger, settings.control_share, settings.challenger_share)
