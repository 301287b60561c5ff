"""Export alerts SNS could not take: kept in the export's state, sent by the next delivery (docs/export.md).

A failed step raises and Pub/Sub redelivers; when the redelivery succeeds (the step's service came back),
the failure's alert would be lost if SNS was down too, and a refusal is never redelivered at all. So an
alert whose publish fails is kept under ``{state}/export/unsent_alerts/{hash}`` and every later delivery
(the redelivery, or the next day's tick) sends what is kept before it runs, deleting each once sent. If
Firestore is down as well the alert cannot be kept: it stays in the error log only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from shared.export.window import STATE_DOC
from shared.logs import get_logger
from shared.ports import Clock, DocumentStore, Notifier, Query

_log = get_logger("export")


class KeptAlerts:
    """The export's alerts that could not be sent yet."""

    def __init__(self, docs: DocumentStore, state_collection: str, clock: Clock) -> None:
        self._docs = docs
        self._collection = f"{state_collection}/{STATE_DOC}/unsent_alerts"
        self._clock = clock

    def keep(self, subject: str, message: str, attributes: Mapping[str, str] | None) -> None:
        """Keep one alert (the same subject and message twice: kept once)."""
        key = hashlib.sha256(f"{subject}\n{message}".encode()).hexdigest()[:32]
        self._docs.set(
            f"{self._collection}/{key}",
            {"subject": subject, "message": message, "attributes": dict(attributes or {}), "keptAt": self._clock()},
        )

    def send(self, notifier: Notifier) -> int:
        """Send every kept alert, oldest first, marked as late; each is deleted once sent. Stops at the first
        failure (SNS still down: they stay kept). How many were sent."""
        kept = sorted(self._docs.query(Query(self._collection)), key=lambda s: (str(s.data.get("keptAt")), s.id))
        sent = 0
        for snap in kept:
            data = snap.data
            note = f"\n\n(kept while SNS was unreachable, since {data.get('keptAt')}; sent by a later export delivery)"
            attributes = {str(k): str(v) for k, v in dict(data.get("attributes") or {}).items()}
            notifier.notify(str(data.get("subject")), f"{data.get('message')}{note}", attributes)
            self._docs.delete(snap.path)
            sent += 1
        return sent


@dataclass(frozen=True)
class KeepingNotifier:
    """A notifier that keeps an alert it could not publish, then raises as the inner one did."""

    inner: Notifier
    kept: KeptAlerts

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        try:
            return self.inner.notify(subject, message, attributes)
        except Exception:
            try:
                self.kept.keep(subject, message, attributes)
            except Exception:
                _log.exception("export alert could not be kept for a later delivery", extra={"subject": subject})
            else:
                _log.warning("export alert kept for a later delivery", extra={"subject": subject})
            raise


def send_kept(kept: KeptAlerts, notifier: Notifier) -> None:
    """Send the kept alerts before a delivery runs; a failure (SNS or Firestore still down) only logs."""
    try:
        sent = kept.send(notifier)
    except Exception as exc:  # expected while SNS or Firestore is down: they stay kept, no traceback
        _log.warning("kept export alerts could not be sent yet", extra={"reason": f"{type(exc).__name__}: {exc}"})
        return
    if sent:
        _log.warning("kept export alerts sent", extra={"sent": sent})
