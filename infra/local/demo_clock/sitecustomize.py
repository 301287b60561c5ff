"""Dev only: the demo's time-lapse clock for the Functions emulator's Python process.

The export covers complete days only, and the demo's clicks are captured minutes before it runs. So
that the deployed export function can run on them, the demo moves *the product's clock*
(``shared.wiring.utc_now``, the one clock every use case reads) forward to just after tonight's
schedule, for the export only: ``infra/local/demo/gcp_steps.py`` writes the offset in seconds to the file
named by ``STORYREC_DEMO_CLOCK_FILE`` before it publishes the export message and empties it after.

Inert unless that variable is set (the demo sets it only for the emulator it starts); on the
``PYTHONPATH`` of that emulator only. Nothing that ships imports or contains this file.
"""

from __future__ import annotations

import os
import sys

_CLOCK_FILE = os.environ.get("STORYREC_DEMO_CLOCK_FILE")


def _offset_seconds() -> float:
    try:
        with open(_CLOCK_FILE or "", encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        return 0.0
    return float(text) if text else 0.0


def _patch(module: object) -> None:
    from datetime import timedelta

    real = module.utc_now  # type: ignore[attr-defined]

    def utc_now():  # type: ignore[no-untyped-def]
        return real() + timedelta(seconds=_offset_seconds())

    utc_now.__doc__ = real.__doc__
    module.utc_now = utc_now  # type: ignore[attr-defined]


if _CLOCK_FILE:
    import importlib.abc
    import importlib.util

    class _ClockFinder(importlib.abc.MetaPathFinder):
        """Patch ``shared.wiring`` right after it runs, before any module imports ``utc_now`` from it."""

        def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
            if name != "shared.wiring":
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):  # type: ignore[no-untyped-def]
                run(module)
                _patch(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, _ClockFinder())
