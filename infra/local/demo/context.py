"""What the steps share, and the shape of a step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud.firestore_v1.base_query import And, FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath
from rich.console import Console

from infra.local.demo.data import DemoData
from shared import wiring
from shared.config import Settings


@dataclass
class DemoContext:
    """What the steps share: the settings pointed at the stack, the emulator suite, and the facts learnt."""

    settings: Settings
    env: dict[str, str]
    console: Console
    work: Path
    data: DemoData
    firestore_host: str = ""
    pubsub_host: str = ""
    functions_url: str = ""
    suite_log: Path | None = None
    clock_file: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def firestore(self) -> Any:
        return wiring.firestore_client(self.settings)

    def count(self, collection: str, prefix: str | None = None) -> int:
        query = self.firestore().collection(collection)
        if prefix is not None:  # document ids starting with ``prefix``
            ref = self.firestore().collection(collection)
            query = query.where(filter=_id_range(FieldPath.document_id(), ref, prefix))
        return int(query.count().get()[0][0].value)


def _id_range(path: Any, ref: Any, prefix: str) -> Any:
    return And([FieldFilter(path, ">=", ref.document(prefix)), FieldFilter(path, "<", ref.document(prefix + "\uf8ff"))])


Step = Callable[[DemoContext], str]
"""One stage of the demo: it does the stage's work, records what it learnt in ``ctx.facts``, returns one line."""
