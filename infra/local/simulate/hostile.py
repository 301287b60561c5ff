"""Hostile impressions from the capture corpus: the project's own bad-input knowledge, not a second list.

Each case of ``IMPRESSION_CASES`` in ``tests/corpus/capture_cases.py`` that capture must quarantine becomes, in
the run, an ``impressions/{id}`` document a client writes (:meth:`World.write_hostile_impression`, the path the
readers' impressions take): the case's changes to the corpus's valid impression are applied to the impression
the simulated client would write now (its reader, the stories and attribution of the list it shows, the
virtual time), so each keeps what makes it hostile and nothing else differs. The stories stay the corpus's
(``s1``, ``s2``, ... are ids the app never publishes), so one that leaked into an export is recognisable.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from shared.capture.records import Writer

CORPUS = Path(__file__).resolve().parents[3] / "tests" / "corpus" / "capture_cases.py"
"""The capture corpus (dev tooling runs from the repository, where the tests are)."""


@dataclass(frozen=True)
class HostileImpression:
    """One corpus case as the run writes it."""

    case: str
    """The corpus case's name."""
    reason: str
    """The quarantine reason the corpus expects (``quarantined:<reason>``)."""
    doc_id: str
    data: Any
    writer: Writer


@cache
def _corpus() -> ModuleType:
    name = "storyrec_capture_corpus"  # loaded by path: ``tests`` is not a package the tooling installs
    spec = importlib.util.spec_from_file_location(name, CORPUS)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"the capture corpus is not at {CORPUS}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def corpus_cases() -> list[Any]:
    """The corpus's impression cases that capture must quarantine, in the corpus's order."""
    return [c for c in _corpus().IMPRESSION_CASES if str(c.expect).startswith("quarantined:")]


def _unique(doc_id: str, seq: int) -> str:
    """A run-unique id keeping what the corpus's id is about: its characters (a path, a pipe), or its length."""
    prefix = f"h{seq:07d}"
    if not doc_id:
        return prefix
    if len(doc_id) > 64:  # about the length: same length, same kind of characters
        return prefix + doc_id[len(prefix) :]
    return f"{prefix}-{doc_id}"


def adapt(case: Any, seq: int, uid: str, other: str, attribution: dict[str, str], now: datetime) -> HostileImpression:
    """The corpus ``case`` written by ``uid``'s client at ``now`` (``other``: another reader, for a forged id;
    ``attribution``: the list's ``recommendationId`` / ``source`` the client would send)."""
    corpus = _corpus()
    base: dict[str, Any] = corpus.impression()
    users = {"u1": uid, "u2": other}
    shift = now - corpus.NOW

    def mapped(key: str, value: Any) -> Any:
        if key == "userId" and isinstance(value, str):
            return users.get(value, value)
        return value + shift if isinstance(value, datetime) else value

    data: Any = case.data
    if isinstance(data, dict):
        data = {"userId": uid, "storyIds": list(base["storyIds"]), **attribution, "clientTime": now, "createdAt": now}
        for key in sorted(set(base) | set(case.data), key=str):
            if key not in case.data:
                data.pop(key, None)
            elif key not in base or case.data[key] != base[key]:
                data[key] = mapped(key, case.data[key])
    auth_type, auth_id = case.writer or ("user", "u1")
    writer = Writer(auth_type, users.get(auth_id, auth_id) if auth_id else None)
    reason = str(case.expect).partition(":")[2]
    return HostileImpression(str(case.name), reason, _unique(str(case.doc_id), seq), data, writer)


def story_cell(data: Any) -> str | None:
    """The IMPRESSION cell a hostile impression would give a click if it leaked (None: no list of ids)."""
    ids = data.get("storyIds") if isinstance(data, dict) else None
    if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
        return "|".join(ids)
    return None
