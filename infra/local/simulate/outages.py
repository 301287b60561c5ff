"""A service down for one delivery of a stage, then the platform's redelivery with it back (docs/simulate.md, "Faults").

Each helper runs the stage's first delivery with the service's endpoint on a closed loopback port, records
what the product did (returned or raised), and leaves the redelivery to the caller: Pub/Sub's retry for a
Firestore trigger, EventBridge's async retry for a Lambda, Cloud Scheduler's retry for the feed fill.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.local.simulate.pipeline import endpoint_down

PERSONALIZE = ("AWS_ENDPOINT_URL_PERSONALIZE", "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME")
FIRESTORE = ("FIRESTORE_EMULATOR_HOST",)
SNS = ("AWS_ENDPOINT_URL_SNS",)


def first_delivery(call: Callable[[], Any], variables: tuple[str, ...], closed_port: int) -> tuple[bool, str]:
    """Run ``call`` with ``variables`` down: (raised, what happened). A raise is what the platform redelivers."""
    with endpoint_down(variables, closed_port):
        try:
            out = call()
        except Exception as exc:
            return True, f"raised {type(exc).__name__}: {str(exc)[:160]}"
    return False, f"returned {str(out)[:160]}"
