"""A ceiling on each user's clicks a minute: what the security rules cannot enforce.

Rules judge each write of a batch alone, so one commit may create hundreds of clicks. Capture bounds
them instead: a click is captured only if it claims one of ``CLICKS_PER_MINUTE`` slots of its user's
minute, the minute of its ``createdAt`` (which the rules pin to the commit's ``request.time``, so a
client cannot spread a burst over other minutes). A slot is a create-only document, so the ceiling
holds however many triggers run at once, and a redelivered click finds its own slot again.

Each click tries ``PROBES`` slots in an order fixed by its id, not all of them: an over-limit click
costs at most ``2 * PROBES`` operations, and a legitimate burst almost never finds all its probes taken
(see ``tests/unit/capture/test_rate.py``). Slot documents are kept (one small document per captured
click), so a replay or backfill meets the same full minutes and decides as the trigger did.
"""

from __future__ import annotations

import hashlib

from shared.ports import DocumentStore

CLICKS_PER_MINUTE = 60
"""A reader opens, reads or likes a few stories a minute; Deskdrop's busiest user-minute holds 26 events."""
PROBES = 8
"""Slots one click tries before it counts as over the limit."""
IMPRESSIONS_PER_MINUTE = CLICKS_PER_MINUTE
"""Impressions are bounded the same way (their own slots): one per feed view, far fewer than clicks."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def probe_order(click_id: str, slots: int = CLICKS_PER_MINUTE) -> list[int]:
    """The ``PROBES`` distinct slots a click tries, in order: a fixed function of its id (rendezvous hashing)."""
    return sorted(range(slots), key=lambda slot: _digest(f"{click_id}:{slot}"))[:PROBES]


def claim_slot(
    store: DocumentStore, collection: str, user_id: str, timestamp: int, click_id: str, slots: int = CLICKS_PER_MINUTE
) -> bool:
    """Claim a slot of ``user_id``'s minute holding ``timestamp`` (epoch seconds) for the click; True if it
    has one (claimed now, or by an earlier delivery of the same click), False if its probes are all taken."""
    minute = timestamp // 60
    prefix = f"{collection}/{_digest(user_id)[:32]}-{minute}"
    for slot in probe_order(click_id, slots):
        path = f"{prefix}-{slot:02d}"
        if store.create(path, {"click_id": click_id, "minute": minute}):
            return True
        held = store.get(path)
        if held is not None and held.get("click_id") == click_id:
            return True
    return False
