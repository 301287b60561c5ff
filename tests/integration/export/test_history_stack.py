"""The first load of history on the Firestore emulator, moto's S3 and the GCS emulator: boundary, manifest,
byte-identical rerun, and the handover to the first daily export (no click missing, none twice)."""

from __future__ import annotations

import pytest

from shared.export import ExportDeps, ExportOptions
from tests.unit.export.history_scenario import run_scenario

pytestmark = pytest.mark.integration


def test_history_then_daily_deltas_on_the_emulators(export_deps: ExportDeps) -> None:
    run_scenario(export_deps, ExportOptions(max_part_bytes=5_000, page_size=100))
