"""A service down for one delivery of a stage, then the platform's redelivery with it back (docs/simulate.md, "Faults").

Each helper runs the stage's first delivery with the service's endpoint on a closed loopback port, records
what the product did (returned or raised), and leaves the redelivery to the caller: Pub/Sub's retry for a
Firestore trigger, EventBridge's async retry for a Lambda, Cloud Scheduler's retry for the feed fill.
"""

from __future__ import annotations

import threading
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


class CaptureWithFirestoreDown:
    """The capture service of a day whose first delivery of each faulted trigger (``methods``; ``count`` of each,
    one by default) meets Firestore down.

    Each such delivery runs the capture use case on a service wired while Firestore's endpoint is a closed
    port (what the trigger's instance sees); when it raises, the trigger's retry (``retry: true``) delivers the
    same event again, which the day's real service captures. Everything else is the real service's.
    """

    def __init__(
        self,
        real: Any,
        build: Callable[[], Any],
        closed_port: int,
        count: int = 1,
        methods: tuple[str, ...] = ("capture_click",),
    ) -> None:
        self.real, self.build, self.closed_port = real, build, closed_port
        self.left = dict.fromkeys(methods, count)
        self.deliveries: list[str] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.real, name)
        if name not in self.left:
            return real

        def delivered(doc_id: str, data: Any, **kwargs: Any) -> Any:
            with self.lock:  # the day's clicks are captured four writers at a time
                first = self.left[name] > 0
                self.left[name] -= 1 if first else 0
            if first:
                label = doc_id if name == "capture_click" else f"{name} {doc_id}"
                with endpoint_down(FIRESTORE, self.closed_port):
                    try:
                        outcome = getattr(self.build(), name)(doc_id, data, **kwargs)
                    except Exception as exc:  # the trigger raised: its retry delivers the event again
                        self.deliveries.append(f"{label}: raised {type(exc).__name__}; redelivered")
                    else:  # the product answered without Firestore: no retry, that is the outcome
                        self.deliveries.append(f"{label}: returned {outcome} with Firestore down")
                        return outcome
            return real(doc_id, data, **kwargs)

        return delivered


def expire_oldest_held_day(settings: Any) -> dict[str, Any]:
    """:func:`expire_oldest_held` on the run's import bucket."""
    from shared import wiring

    return expire_oldest_held(wiring.import_store(settings), settings.aws_stage.state_prefix)


def expire_oldest_held(store: Any, prefix: str) -> dict[str, Any]:
    """Delete the parts of the oldest held interactions day that still has them, as the import bucket's
    lifecycle rule expires them (docs/aws.md): the product must report that day lost once, by name, and
    import the others. A held day whose parts expired before (still held: no group formed since) has nothing
    left to expire and is passed over. What was expired (nothing when no held day has parts left)."""
    from shared.personalize.held import HeldDays

    days, _ = HeldDays(store, prefix).days()
    day = next((d for d in days if any(store.head(p.key) is not None for p in d.parts)), None)
    if day is None:
        return {}
    for part in day.parts:
        store.delete(part.key)
    return {
        "day": day.day.isoformat(),
        "manifest_key": day.manifest_key,
        "rows": day.rows,
        "parts": [p.key for p in day.parts],
    }


def lost_days(alerts: list[str]) -> list[str]:
    """The dates named by the product's "held interactions lost: <date>" alerts."""
    marker = "held interactions lost: "
    return [a.split(marker, 1)[1].strip() for a in alerts if marker in a]
