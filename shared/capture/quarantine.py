"""Quarantine records: what was rejected, why, and the payload as received (made safe to store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_RAW_STRING = 2000
MAX_RAW_ITEMS = 100
MAX_RAW_DEPTH = 5


def quarantine_id(source: str, doc_id: str) -> str:
    """Deterministic doc id ``<source>-<docId>``, so a retry overwrites rather than adds.

    Firestore ids may not contain '/' and are limited to 1,500 bytes; a hostile id is shortened.
    """
    return f"{source}-{doc_id}".replace("/", "_")[:700]


def safe_raw(value: Any, depth: int = 0) -> Any:
    """A copy of a payload that Firestore can always store: long strings and lists cut, odd types as text."""
    if value is None or isinstance(value, bool | int | float | datetime):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_RAW_STRING else value[:MAX_RAW_STRING] + "…[truncated]"
    if depth >= MAX_RAW_DEPTH:
        return repr(value)[:MAX_RAW_STRING]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_RAW_ITEMS]
        return {str(k)[:200] or "_": safe_raw(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [safe_raw(v, depth + 1) for v in list(value)[:MAX_RAW_ITEMS]]
    return repr(value)[:MAX_RAW_STRING]


def quarantine_record(source: str, doc_id: str, reason: str, detail: str, raw: Any) -> dict[str, Any]:
    """The ``ml_quarantine`` document (without ``quarantined_at``, which the caller stamps)."""
    return {
        "source": source,
        "doc_id": doc_id[:1000],
        "reason": reason,
        "detail": detail[:MAX_RAW_STRING],
        "raw": safe_raw(raw),
    }
