"""The AWS stage's own state, as small JSON objects under a prefix of the import bucket.

* ``alerts/<hash>.json``: one marker per alert key (with when it was sent), so each failure is announced once;
* ``decisions/<version>.json``: every promotion decision with all metrics (the history); a promoted
  version's own metrics stay in its record, so later decisions compare with them without a look-up.
  The record is created create-only before anything is done: of overlapping passes only its writer acts;
* ``promotions/<version>.json``: created create-only by whoever calls UpdateCampaign (or CreateCampaign) for
  the version, the monitor or ``storyrec promote``: one campaign switch per version, whatever overlaps;
* ``parked-imports/<hash>.json``: manifests whose imports must wait for a free import slot;
* ``handled-manifests/<hash>.json``: manifests whose imports all started (the catch-up skips them);
* ``held-days/``, ``held-done/``: interaction deltas too small to import alone (:mod:`shared.personalize.held`);
* ``training-request.json``: a training run deferred until the pending imports have settled;
* ``alerts-kept/<hash>.json``: alerts SNS could not take, sent by the next monitor pass (``resend_kept``);
* ``experiment.json``: the challenger under test (promotion mode ``online``), read by the daily fill;
  ``verdicts/<version>.json``: the test's verdict on it, created create-only (one verdict, one report).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import NotFound, ServiceUnavailable
from shared.logs import get_logger
from shared.personalize.names import safe_name
from shared.ports import Clock, Notifier, ObjectStore

_log = get_logger("personalize.state")
RESEND_AFTER = timedelta(minutes=30)
"""An alert claimed this long ago with no message id was lost with its run (a Lambda lives 15 minutes at most)."""


class AlertNotSent(ServiceUnavailable):
    """SNS did not take an alert; it is kept and the next pass sends it (:meth:`StageState.resend_kept`)."""


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, indent=2, default=str).encode("utf-8")


def _object(raw: bytes, key: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        _log.error("a state object is not a JSON object: ignored", extra={"key": key})
        return None
    return value


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


_NEVER = datetime.min.replace(tzinfo=UTC)


def _sent_at(marker: Mapping[str, Any]) -> datetime:
    """When the alert was sent; markers written before ``sent_at`` existed sort as the oldest."""
    try:
        sent = datetime.fromisoformat(str(marker["sent_at"]))
    except (KeyError, ValueError):
        return _NEVER
    return sent if sent.tzinfo else sent.replace(tzinfo=UTC)


class StageState:
    """Reads and writes the stage's markers in ``store`` under ``prefix``."""

    def __init__(self, store: ObjectStore, prefix: str, clock: Clock) -> None:
        self.store = store
        self.prefix = prefix
        self.clock = clock

    def _put(self, key: str, body: Mapping[str, Any]) -> None:
        self.store.put_bytes(self.prefix + key, _json(body), content_type="application/json")

    def _create(self, key: str, body: Mapping[str, Any]) -> bool:
        """Create-only: True if this call wrote ``key``, False if it already existed (another writer won)."""
        return self.store.put_if_absent(self.prefix + key, _json(body), content_type="application/json")

    def _get(self, key: str) -> dict[str, Any] | None:
        """The JSON object at ``key``; None if it is missing or is not a JSON object (a corrupt marker
        must not make every later pass raise: it is logged, and create-only writes still see it)."""
        try:
            return _object(self.store.get_bytes(self.prefix + key), self.prefix + key)
        except NotFound:
            return None

    # alerts -------------------------------------------------------------------------------------
    def alert_once(
        self, notifier: Notifier, key: str, subject: str, message: str, attributes: Mapping[str, str] | None = None
    ) -> bool:
        """Publish the alert ``key`` once, however many runs overlap; True if this call published it.

        The marker is created create-only BEFORE publishing, so of overlapping runs only its writer
        publishes; a failed publish removes it again, keeps the alert and raises: the next monitor pass sends it
        (:meth:`resend_kept`), even when what raised it does not come again. A run that died
        between the two leaves a marker without ``message_id``: once that is older than
        ``RESEND_AFTER``, one later call (create-only again) re-sends it, so an alert is never lost.
        """
        marker = f"alerts/{_hash(key)}.json"
        body = {"key": key, "subject": subject, "sent_at": self.clock().isoformat()}
        if not self._create(marker, body) and not self._takes_over(marker, key):
            return False
        try:
            message_id = notifier.notify(subject, message, attributes)
        except Exception as exc:
            self.store.delete(self.prefix + marker)
            self._keep(key, subject, message, attributes)
            raise AlertNotSent(f"alert {key!r} not sent (kept for the next pass): {type(exc).__name__}: {exc}") from exc
        self._put(marker, {**body, "message_id": message_id})
        _log.warning("alert sent", extra={"alert_key": key, "subject": subject})
        return True

    def _keep(self, key: str, subject: str, message: str, attributes: Mapping[str, str] | None) -> None:
        """Keep an alert whose publish failed, for :meth:`resend_kept`: the condition that raised it may not
        come again (a decision is recorded before its report), so the next pass must not depend on it."""
        body = {"key": key, "subject": subject, "message": message, "attributes": dict(attributes or {})}
        try:
            self._put(f"alerts-kept/{_hash(key)}.json", {**body, "kept_at": self.clock().isoformat()})
        except Exception:
            _log.exception("an alert that could not be sent could not be kept either", extra={"alert_key": key})

    def resend_kept(self, notifier: Notifier) -> list[str]:
        """Send the alerts an earlier run could not (each still once: :meth:`alert_once`); the keys sent.

        A kept alert is forgotten once its marker records a message id (sent, by this call or another run);
        while SNS is still down it stays kept, and this call only logs."""
        sent = []
        for info in self.store.list(self.prefix + "alerts-kept/"):
            kept = self._get(info.key[len(self.prefix) :])
            if kept is None:
                continue
            key = str(kept.get("key"))
            try:
                if self.alert_once(
                    notifier, key, str(kept.get("subject")), str(kept.get("message")), kept.get("attributes")
                ):
                    sent.append(key)
            except Exception as exc:  # still down: kept (alert_once kept it again)
                _log.warning(
                    "kept alerts not sent yet", extra={"alert_key": key, "reason": f"{type(exc).__name__}: {exc}"}
                )
                return sent
            if "message_id" in (self._get(f"alerts/{_hash(key)}.json") or {}):
                self.store.delete(info.key)
        return sent

    def _takes_over(self, marker: str, key: str) -> bool:
        """True if ``marker`` was claimed by a run that never published and this call wins the re-send."""
        found = self._get(marker)
        if found is None or "message_id" in found:
            return False
        if self.clock() - _sent_at(found) < RESEND_AFTER:
            return False
        return self._create(f"alerts-resend/{_hash(key)}-{found.get('sent_at')}.json", {"key": key})

    def alerts(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` alert markers, newest first (markers without ``sent_at`` last)."""
        keys = [info.key[len(self.prefix) :] for info in self.store.list(self.prefix + "alerts/")]
        markers = [m for m in map(self._get, keys) if m is not None]
        markers.sort(key=_sent_at, reverse=True)
        return markers[:limit]

    # decisions ----------------------------------------------------------------------------------
    def _decision_key(self, version_arn: str) -> str:
        return f"decisions/{safe_name(version_arn.split(':', 5)[-1])}.json"

    def decision_for(self, version_arn: str) -> dict[str, Any] | None:
        return self._get(self._decision_key(version_arn))

    def claim_decision(self, version_arn: str, body: Mapping[str, Any]) -> bool:
        """Create the version's decision record, create-only; True if this writer won (only it acts)."""
        return self._create(self._decision_key(version_arn), body)

    def record_decision(self, version_arn: str, body: Mapping[str, Any]) -> str:
        """(Over)write the version's decision record: only the writer that claimed the decision, or the
        promotion, calls this. Returns the record's key."""
        key = self._decision_key(version_arn)
        self._put(key, body)
        return self.prefix + key

    def release_decision(self, version_arn: str) -> None:
        """Drop a claimed decision that was not acted on (the campaign was busy): the next pass decides."""
        self.store.delete(self.prefix + self._decision_key(version_arn))

    def _promotion_key(self, version_arn: str) -> str:
        return f"promotions/{safe_name(version_arn.split(':', 5)[-1])}.json"

    def claim_promotion(self, version_arn: str, by: str) -> bool:
        """The right to switch the campaign to ``version_arn``, create-only; True if ``by`` won it."""
        return self._create(
            self._promotion_key(version_arn), {"version": version_arn, "by": by, "claimed_at": self.clock().isoformat()}
        )

    def release_promotion(self, version_arn: str) -> None:
        """Give the right back when the switch was refused before it started (the campaign was busy)."""
        self.store.delete(self.prefix + self._promotion_key(version_arn))

    def promoted_metrics(self, version_arn: str) -> dict[str, Any] | None:
        """The metrics recorded for ``version_arn`` when it was promoted; None if it never was (by storyrec)."""
        decision = self.decision_for(version_arn)
        if decision is None or decision.get("action") != "promote":
            return None
        metrics = decision.get("metrics")
        candidate = metrics.get("candidate") if isinstance(metrics, dict) else None
        return dict(candidate) if isinstance(candidate, dict) else None

    def decisions(self) -> list[dict[str, Any]]:
        """Every recorded decision, oldest first (by ``decided_at``)."""
        out = []
        for info in self.store.list(self.prefix + "decisions/"):
            value = _object(self.store.get_bytes(info.key), info.key)
            if value is not None:
                out.append(value)
        return sorted(out, key=lambda d: str(d.get("decided_at", "")))

    # handled manifests --------------------------------------------------------------------------
    def mark_handled(self, manifest_key: str, outcome: str) -> None:
        """The manifest's imports all started (or it was refused): the monitor's catch-up skips it."""
        self._put(f"handled-manifests/{_hash(manifest_key)}.json", {"manifest_key": manifest_key, "outcome": outcome})

    def is_handled(self, manifest_key: str) -> bool:
        return self.store.head(f"{self.prefix}handled-manifests/{_hash(manifest_key)}.json") is not None

    # parked imports -----------------------------------------------------------------------------
    def park_import(self, manifest_key: str, reason: str) -> None:
        self._put(f"parked-imports/{_hash(manifest_key)}.json", {"manifest_key": manifest_key, "reason": reason})

    def unpark_import(self, manifest_key: str) -> None:
        self.store.delete(f"{self.prefix}parked-imports/{_hash(manifest_key)}.json")

    def parked_imports(self) -> list[str]:
        keys = []
        for info in self.store.list(self.prefix + "parked-imports/"):
            value = json.loads(self.store.get_bytes(info.key))
            keys.append(str(value["manifest_key"]))
        return sorted(keys)

    # training requests --------------------------------------------------------------------------
    def request_training(self, name: str, reason: str) -> None:
        self._put("training-request.json", {"name": name, "reason": reason})

    def training_request(self) -> str | None:
        value = self._get("training-request.json")
        return str(value["name"]) if value else None

    def clear_training_request(self) -> None:
        self.store.delete(self.prefix + "training-request.json")

    # the online test ------------------------------------------------------------------------------
    def start_test(self, champion: str, challenger: str) -> None:
        """The challenger under test against ``champion`` (what the daily fill reads to fill its arm)."""
        self._put(
            "experiment.json", {"champion": champion, "challenger": challenger, "started_at": self.clock().isoformat()}
        )

    def current_test(self) -> dict[str, Any] | None:
        return self._get("experiment.json")

    def end_test(self, challenger: str) -> None:
        """The test of ``challenger`` is over: the fill goes back to the holdout (unless a newer test started)."""
        current = self.current_test()
        if current is not None and current.get("challenger") == challenger:
            self.store.delete(self.prefix + "experiment.json")

    def claim_verdict(self, version_arn: str, body: Mapping[str, Any]) -> bool:
        """The test's verdict on ``version_arn``, create-only; True if this writer won (only it acts and reports)."""
        return self._create(f"verdicts/{safe_name(version_arn.split(':', 5)[-1])}.json", body)

    def release_verdict(self, version_arn: str) -> None:
        self.store.delete(f"{self.prefix}verdicts/{safe_name(version_arn.split(':', 5)[-1])}.json")

    def record_look(self, experiment_id: str, body: Mapping[str, Any]) -> None:
        """The test's latest look (arms, exposure, lifts), overwritten by every pass: what status shows."""
        self._put(f"experiments/{safe_name(experiment_id)}.json", body)

    def look(self, experiment_id: str) -> dict[str, Any] | None:
        return self._get(f"experiments/{safe_name(experiment_id)}.json")

    def looks(self) -> list[dict[str, Any]]:
        """The latest look of every test, oldest first (by ``looked_at``)."""
        found = (_object(self.store.get_bytes(i.key), i.key) for i in self.store.list(self.prefix + "experiments/"))
        out = [v for v in found if v is not None]
        return sorted(out, key=lambda d: str(d.get("looked_at", "")))
