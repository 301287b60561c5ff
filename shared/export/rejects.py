"""Quarantine of the records the export did not write: one ``ml_quarantine`` record each, as capture's.

The record is capture's (:func:`shared.capture.quarantine.quarantine_record`: reason, detail, the payload
as read, cut to fit a document), keyed by the ML collection and the document id, so a rerun of the same
day overwrites instead of adding; ``stage`` says the export found it. Writes go in batches kept well under
Firestore's 10 MiB request limit (a quarantine record may hold 256 KiB of payload).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.capture.quarantine import quarantine_id, quarantine_record
from shared.export.rows import Reject
from shared.ports import DocumentStore, Write

BATCH_BYTES = 4_000_000
"""Payload bytes per batch of quarantine writes (Firestore: 10 MiB per request)."""
BATCH_WRITES = 500


@dataclass(frozen=True)
class ExportQuarantine:
    """Writes the rejects of one dataset (read from ``source``, an ML collection) into ``collection``."""

    docs: DocumentStore
    collection: str
    source: str
    now: datetime

    def __call__(self, rejects: Sequence[Reject]) -> None:
        batch: list[Write] = []
        size = 0
        for reject in rejects:
            record = quarantine_record(self.source, reject.doc_id, reject.reason, reject.detail, reject.data)
            path = f"{self.collection}/{quarantine_id(self.source, reject.doc_id)}"
            batch.append(Write(path, data={**record, "stage": "export", "quarantined_at": self.now}))
            size += len(record["raw"].encode("utf-8")) + 4 * (len(record["doc_id"]) + len(record["detail"]))
            if size >= BATCH_BYTES or len(batch) >= BATCH_WRITES:
                self.docs.write_batch(batch)
                batch, size = [], 0
        if batch:
            self.docs.write_batch(batch)
