"""Which of the serving solution's two slots a training goes to: a pure, total function (docs/aws.md).

Personalize updates only the **latest** version of a User-Personalization solution with new items (every
two hours); a newer version of the same solution, ACTIVE, ends the updates of the older one. So a candidate
trained as a new version of the serving version's own solution would freeze the serving version whenever
it is kept out (the rule keeps, holds or retires it, or tests it online). storyrec keeps two solutions with
the same recipe and configuration, the configured one and ``<name>-b``
(:func:`shared.personalize.names.second_slot`), and trains each candidate on the slot that holds neither
the version the campaign serves nor the one an UpdateCampaign is switching it to. (In promotion mode
``online`` the champion serves, so the challenger under test is on the other slot and both arms keep their
updates; a training during the test goes to the challenger's slot: as before the slots, a newer candidate
takes the challenger's place.)

The rule, total over every input:

* the serving state could not be read -> refuse (the caller defers the training with the reason): a guess
  could supersede the version that serves;
* the two slots are not two distinct solutions -> refuse;
* nothing serves (no campaign) -> the first slot;
* the serving versions lie in neither slot (a version promoted from elsewhere) -> the first slot;
* one slot holds them -> the other;
* both slots hold one (an UpdateCampaign is switching from one slot to the other) -> refuse until it settles.

A version belongs to a slot when its ARN is ``<solution ARN>/<id>`` (Personalize's form).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServingState:
    """What the campaign serves, as read from Personalize.

    ``serving``: the deployed version and, while an UpdateCampaign runs, its target (empty: no campaign);
    ``unreadable``: why the state could not be read (then ``serving`` does not count).
    """

    serving: tuple[str, ...] = ()
    unreadable: str | None = None


@dataclass(frozen=True)
class SlotChoice:
    """The solution to train on (None: refused) and the one-line reason."""

    solution: str | None
    reason: str


def in_slot(version_arn: str, solution_arn: str) -> bool:
    """True when ``version_arn`` is a version of ``solution_arn`` (``<solution ARN>/<id>``)."""
    return bool(solution_arn) and version_arn.startswith(solution_arn + "/")


def _line(text: str) -> str:
    """``text`` on one line (a reason is logged and stored as one line, whatever Personalize answered)."""
    return " ".join(text.split()) or repr(text)


def choose_slot(slots: tuple[str, str], state: ServingState) -> SlotChoice:
    """The slot the next training goes to, by the rule of the module docstring."""
    first, second = slots
    if state.unreadable is not None:
        return SlotChoice(
            None, f"what the campaign serves could not be read ({_line(state.unreadable)}): training waits"
        )
    if not first or not second or first == second:
        why = f"the two solution slots are not two solutions ({first!r}, {second!r}): run storyrec bootstrap"
        return SlotChoice(None, why)
    held = [s for s in slots if any(in_slot(v, s) for v in state.serving)]
    if not state.serving:
        return SlotChoice(first, "nothing serves yet: the first slot")
    if not held:
        return SlotChoice(first, f"the serving version {_line(state.serving[0])} is in neither slot: the first slot")
    if len(held) == 2:
        switch = " -> ".join(map(_line, state.serving))
        return SlotChoice(None, f"the campaign is switching between the two slots ({switch}): training waits")
    free = second if held[0] == first else first
    return SlotChoice(free, f"{_line(held[0])} holds the serving version: trained on the other slot")
