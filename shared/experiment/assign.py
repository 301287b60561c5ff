"""Which arm a reader is in: a salted sha256 of the uid, stable for one test, re-drawn for the next.

The salt is the test's ``experimentId``, so a new test (a new champion, a new challenger) re-draws every
reader: nobody stays in the control arm for ever, and a reader's arm in one test says nothing about the
next. The hash's first 64 bits, read as a fraction of 2**64, place the reader on [0, 1): the first
``control_share`` of it is control, the next ``challenger_share`` challenger (while a challenger is under
test), the rest champion.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

Arm = Literal["champion", "challenger", "control"]
ARMS: tuple[Arm, ...] = ("champion", "challenger", "control")
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


def position(uid: str, salt: str) -> float:
    """The reader's place on [0, 1) for this salt: uniform, and independent across salts."""
    digest = hashlib.sha256(f"{salt}:{uid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Experiment:
    """One test: its id (the salt), its arms' shares and the versions they serve.

    ``experiment_id`` None means no test runs (nothing serves yet, or every share is 0): everyone is champion.
    """

    experiment_id: str | None
    control_share: float = 0.0
    challenger_share: float = 0.0
    champion: str | None = None
    """The serving solution version (the campaign's)."""
    challenger: str | None = None
    """The candidate version under test (None: no challenger arm)."""

    def __post_init__(self) -> None:
        if self.experiment_id is not None and not _ID.match(self.experiment_id):
            raise ValueError(f"experiment id {self.experiment_id!r} is not 1..100 of [A-Za-z0-9_-]")
        if not (0.0 <= self.control_share <= 1.0 and 0.0 <= self.challenger_share <= 1.0):
            raise ValueError("arm shares must be within 0..1")
        if self.control_share + self.challenger_share > 1.0:
            raise ValueError("the control and challenger shares add up to more than 1")

    def shares(self) -> dict[str, float]:
        """Each arm's expected share of the readers (what the sample-ratio check compares with)."""
        if self.experiment_id is None:
            return {"champion": 1.0}
        challenger = self.challenger_share if self.challenger else 0.0
        out: dict[str, float] = {"champion": 1.0 - self.control_share - challenger}
        if self.control_share > 0:
            out["control"] = self.control_share
        if challenger > 0:
            out["challenger"] = challenger
        return out

    def arm(self, uid: str) -> Arm:
        """The reader's arm in this test."""
        if self.experiment_id is None:
            return "champion"
        x = position(uid, self.experiment_id)
        if x < self.control_share:
            return "control"
        if self.challenger and x < self.control_share + self.challenger_share:
            return "challenger"
        return "champion"


def version_id(arn: str) -> str:
    """The last part of a solution version ARN (its id), cleaned to the experiment id's alphabet."""
    return re.sub(r"[^A-Za-z0-9_\-]", "-", arn.rsplit("/", 1)[-1])[:40] or "x"


def experiment_for(
    champion: str | None, challenger: str | None, control_share: float, challenger_share: float
) -> Experiment:
    """The test that runs while ``champion`` serves and ``challenger`` (or nothing) is under test.

    Its id names both versions, so a promotion or a new candidate starts a new test (and re-draws the arms);
    with nothing serving, or no arm to fill, no test runs.
    """
    share = challenger_share if challenger else 0.0
    if champion is None or (control_share <= 0 and share <= 0):
        return Experiment(None)
    kind = f"test-{version_id(challenger)}-vs-" if challenger else "holdout-"
    return Experiment(f"{kind}{version_id(champion)}", control_share, share, champion, challenger)


def experiment_record(experiment: Experiment) -> dict[str, object]:
    """The test as kept in Firestore's ``ml_state/experiment`` by the fill (read by refresh, first feeds, export)."""
    return {
        "experimentId": experiment.experiment_id,
        "controlShare": experiment.control_share,
        "challengerShare": experiment.challenger_share,
        "champion": experiment.champion,
        "challenger": experiment.challenger,
    }


def experiment_from_record(data: object) -> Experiment:
    """The test of a stored :func:`experiment_record`; anything malformed is no test."""
    if not isinstance(data, dict):
        return Experiment(None)
    try:
        return Experiment(
            data.get("experimentId"),
            float(data.get("controlShare") or 0.0),
            float(data.get("challengerShare") or 0.0),
            data.get("champion"),
            data.get("challenger"),
        )
    except (TypeError, ValueError):
        return Experiment(None)
