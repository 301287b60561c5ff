"""``storyrec rebuild --finish`` on a state it cannot act on: one line naming the fix, nothing deleted."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.operate.rebuild import Rebuild, RebuildRefused
from shared.operate.switch import finish_switch, record_key
from shared.personalize.stage import StageDeps
from tests.unit.aws.fakes import FakePersonalize
from tests.unit.cli.conftest import NOW

pytestmark = pytest.mark.unit


def _finish(body: bytes | None) -> Any:
    port, bucket = FakePersonalize(NOW), InMemoryObjectStore("import")
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_DATASET_GROUP": "storyrec-v2"})
    deps = StageDeps(port, bucket, RecordingNotifier(), RecordingMetrics(), lambda: NOW, settings)
    if body is not None:
        bucket.put_bytes(record_key(deps, "storyrec-v2"), body)
    job = Rebuild(port, InMemoryObjectStore("backup"), bucket, "storyrec-v2")
    return finish_switch(job, deps, lambda since: (None, None))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (None, "no prepared switch to storyrec-v2 (s3://import/storyrec-state/rebuild/storyrec-v2.json): run "
               "`storyrec rebuild --dataset-group storyrec-v2` first"),
        (b"not json", "is not JSON: delete it and rerun the rebuild"),
        (b'{"new": {"dataset_group": "storyrec-v2"}}', "is malformed"),
        (b'{"new": 3, "prepared_at": "yesterday"}', "is malformed"),
    ],
)
def test_a_missing_or_broken_record_is_named_with_its_fix(body: bytes | None, words: str) -> None:
    with pytest.raises(RebuildRefused) as refused:
        _finish(body)
    assert words in str(refused.value) and "\n" not in str(refused.value)
