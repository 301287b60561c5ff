"""The engine's clock for what Personalize does on a schedule (automatic updates, autoupdate.py).

Real time, unless ``<state dir>/engine-clock.json`` (``{"now": <epoch seconds>}``) says otherwise: the
simulation (infra/local/simulate, docs/simulate.md "The clock") lives simulated days in seconds of real
time and writes its virtual time there, so the engine's two-hourly updates follow the simulated day. A
test may write it too. Test-only: a deployment never has the file (AWS has no such hook). The engine's
other timestamps (creationDateTime, job settling) stay real: jobs finish in real seconds.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

FILE = "engine-clock.json"


class EngineClock:
    """``now()`` in epoch seconds: the clock file's time when it holds one, else real time."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / FILE
        self._cached: tuple[tuple[int, int], float] | None = None  # one stat per read, not one parse

    def now(self) -> float:
        try:
            info = os.stat(self.path)
        except OSError:
            return time.time()
        key = (info.st_ino, info.st_mtime_ns)  # every write is a new file (os.replace): a new inode
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        value = _read(self.path)
        if value is None:
            return time.time()
        self._cached = (key, value)
        return value


def set_now(state_dir: str | Path, when: float) -> None:
    """Make the engine's clock read ``when`` (epoch seconds) until the next call (atomic write)."""
    path = Path(state_dir) / FILE
    tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"now": float(when)}), encoding="utf-8")
    os.replace(tmp, path)


def _read(path: Path) -> float | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("now")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
