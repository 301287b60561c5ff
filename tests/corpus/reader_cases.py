"""Reader aggregates (``ml_readers/{uid}``) as the fill may find them: good, incomplete, damaged.

``trusted``: the fill takes the reader's history from the document; ``queried``: it falls back to the query on
``ml_interactions`` for that reader (the same answer as before aggregates existed). Never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ReaderCase:
    name: str
    doc: dict[str, Any]
    expect: Literal["trusted", "queried"]


READER_CASES: list[ReaderCase] = [
    ReaderCase("one read", {"USER_ID": "r", "items_read": ["s1"]}, "trusted"),
    ReaderCase(
        "every event type", {f"items_{t}": ["s1"] for t in ("open", "read", "comment", "like", "save")}, "trusted"
    ),
    ReaderCase("no items at all (history, nothing seen)", {"USER_ID": "r"}, "trusted"),
    ReaderCase("an event type outside the vocabulary", {"items_share": ["s1"]}, "trusted"),
    ReaderCase("overflowed", {"USER_ID": "r", "incomplete": "overflow"}, "queried"),
    ReaderCase("overflowed, then added to again", {"incomplete": "overflow", "items_read": ["s2"]}, "queried"),
    ReaderCase("erased (a deleted user)", {"USER_ID": "r", "incomplete": "erased"}, "queried"),
    ReaderCase("an unknown incomplete reason", {"incomplete": 7}, "queried"),
    ReaderCase("items not a list", {"items_read": "s1"}, "queried"),
    ReaderCase("items a map", {"items_read": {"s1": True}}, "queried"),
    ReaderCase("a story id not text", {"items_read": ["s1", 5]}, "queried"),
    ReaderCase("a null story id", {"items_read": [None]}, "queried"),
]
