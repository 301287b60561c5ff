"""Quarantine records: what was rejected, why, and the payload as received, bounded to fit a document.

A record never fails to be written: its key is a fixed-length hash of (source, id), so a 1,500-byte
id or an id with '/' still gives a valid key and two long ids sharing a prefix never share one; the
payload of any shape (map, list, scalar, nested, huge) is kept as JSON text cut to
``MAX_RAW_BYTES``, with its full size and SHA-256 so the original can be matched later.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

MAX_RAW_BYTES = 256 * 1024
"""The stored payload text, well under Firestore's 1 MiB document limit with every other field."""
MAX_DETAIL_CHARS = 2000
MAX_DOC_ID_CHARS = 1500


def quarantine_id(source: str, doc_id: str) -> str:
    """Deterministic, fixed-length doc id ``<source>-<sha256 of the id>``: a retry overwrites, never adds."""
    digest = hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{source}-{digest}"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if hasattr(value, "path"):  # a DocumentReference
        return {"$ref": str(value.path)}
    return repr(value)


def payload_text(raw: Any) -> str:
    """The payload as JSON text (keys sorted, odd types spelled out); never raises."""
    try:
        return json.dumps(raw, default=_default, sort_keys=True, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return repr(raw)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text.encode("utf-8", "replace").decode("utf-8"), False
    return data[:limit].decode("utf-8", "ignore"), True


def quarantine_record(source: str, doc_id: str, reason: str, detail: str, raw: Any) -> dict[str, Any]:
    """The ``ml_quarantine`` document (without ``quarantined_at``, which the caller stamps)."""
    text = payload_text(raw)
    encoded = text.encode("utf-8", "surrogatepass")
    kept, truncated = _cut(text, MAX_RAW_BYTES)
    doc_id_kept, _ = _cut(doc_id, MAX_DOC_ID_CHARS)
    return {
        "source": source,
        "doc_id": doc_id_kept,
        "reason": reason,
        "detail": _cut(detail, MAX_DETAIL_CHARS)[0],
        "raw": kept,
        "raw_bytes": len(encoded),
        "raw_sha256": hashlib.sha256(encoded).hexdigest(),
        "raw_truncated": truncated,
    }
