"""``write_newer`` through plain protobuf requests (the adapter's path, private SDK attributes) against the
same guarded writes through the SDK's public API, on the Firestore emulator.

Three ways to write N feed-shaped documents (one 25-story JSON string, as the fill writes them), each
absent → create, and then each present → replace under a precondition on what was read, in chunks of
500 on 4 writer threads (the fill's settings):

* ``private``: ``FirestoreDocumentStore.write_newer``, i.e. a BatchGetDocuments of the version field and
  a BatchWrite built as plain protobuf messages, sent through ``client._firestore_api``;
* ``public``: the same semantics through public SDK calls only: ``client.get_all`` of the whole
  documents (a replace under a precondition needs the stored field names, because ``set`` takes no
  precondition and ``update`` must delete the fields the new document lacks) and a ``BulkWriteBatch``
  of ``create`` / ``update(option=write_option(last_update_time=...))``;
* ``public-masked``: a lower bound of the public path: ``get_all`` of the version field only and
  ``update`` without the deletes (not a full replace, so not a substitute; measured to show what the
  public path would cost even if the deletes were free).

Prints docs/s and this process's CPU per document (the Python client side; the emulator runs in its own
process). Usage (from the repo root)::

    .venv/bin/python benchmarks/bench_firestore_paths.py --docs 5000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_feeds import stack_env  # noqa: E402  (the private emulator, the environment pointing at it)
from google.cloud import firestore_v1  # noqa: E402
from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch  # noqa: E402
from google.cloud.firestore_v1.field_path import FieldPath  # noqa: E402

from shared import wiring  # noqa: E402
from shared.adapters.firestore import FirestoreDocumentStore  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.ports import NewerWrite, newer_decision  # noqa: E402

VERSION_FIELD = "generatedAt"
CHUNK = 500
THREADS = 4


def feed(at: datetime, uid: int) -> dict[str, Any]:
    """A feed document of the fill's shape: a few scalars and the 25 stories as one JSON string."""
    items = [
        {
            "storyId": f"s{k}",
            "score": round(0.9 - k / 100, 4),
            "title": f"Story {k} for u{uid}",
            "url": f"https://n/{k}",
        }
        for k in range(25)
    ]
    return {
        "kind": "personalized",
        VERSION_FIELD: at,
        "runId": "bench",
        "recommendationId": f"rid-{uid}",
        "itemsJson": json.dumps(items, separators=(",", ":")),
    }


def public_write_newer(client: Any, writes: list[NewerWrite], *, masked: bool) -> int:
    """One read-decide-write round through public SDK calls; the number of writes applied."""
    refs = [client.document(w.path) for w in writes]
    fields = {"field_paths": [VERSION_FIELD]} if masked else {}
    snaps = {snap.reference.path: snap for snap in client.get_all(refs, **fields)}
    batch = BulkWriteBatch(client)
    for write, ref in zip(writes, refs, strict=True):
        snap = snaps[ref.path]
        stored = snap.to_dict() if snap.exists else None
        if newer_decision(stored, write, VERSION_FIELD) != "written":
            continue
        if stored is None:
            batch.create(ref, dict(write.data))
            continue
        removed = {} if masked else {k: firestore_v1.DELETE_FIELD for k in stored if k not in write.data}
        update = {FieldPath(k).to_api_repr(): v for k, v in {**write.data, **removed}.items()}
        batch.update(ref, update, option=client.write_option(last_update_time=snap.update_time))
    response = batch.commit()
    return sum(status.code == 0 for status in response.status)


def measure(name: str, write_chunk: Callable[[list[NewerWrite]], int], writes: list[NewerWrite], what: str) -> None:
    chunks = [writes[i : i + CHUNK] for i in range(0, len(writes), CHUNK)]
    cpu, start = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        written = sum(pool.map(write_chunk, chunks))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert written == len(writes), (name, written)
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"path={name} {what} docs={len(writes)} docs_per_s={len(writes) / elapsed:.0f} "
        f"cpu_ms_per_doc={1000 * cpu / len(writes):.3f} load={load}",
        flush=True,
    )


def run(env: dict[str, str], docs: int, repeats: int) -> None:
    settings = Settings.from_env(env)
    client = wiring.firestore_client(settings)
    store = FirestoreDocumentStore(client)
    paths: dict[str, Callable[[list[NewerWrite]], int]] = {
        "private": lambda chunk: store.write_newer(chunk, version_field=VERSION_FIELD).count("written"),
        "public": lambda chunk: public_write_newer(client, chunk, masked=False),
        "public-masked": lambda chunk: public_write_newer(client, chunk, masked=True),
    }
    base = datetime(2026, 12, 1, tzinfo=UTC)
    for name, write_chunk in paths.items():  # warm-up (the emulator's JIT, the clients' channels), not printed
        for at in (base - timedelta(days=1), base):
            chunks = [
                [NewerWrite(f"warmup_{name}/u{u}", feed(at, u), at) for u in range(k, k + CHUNK)] for k in (0, CHUNK)
            ]
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                list(pool.map(write_chunk, chunks))
    for repeat in range(repeats):
        order = list(paths) if repeat % 2 == 0 else list(reversed(paths))
        for step, what in enumerate(("creates", "replaces")):
            at = base + timedelta(minutes=repeat * 10 + step)
            for name in order:
                collection = f"feeds_{name}_{repeat}"
                writes = [NewerWrite(f"{collection}/u{u}", feed(at, u), at) for u in range(docs)]
                measure(name, paths[name], writes, what)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-firestore-paths-") as tmp,
        stack_env(Path(tmp), ("firestore",)) as env,
    ):
        run(env, args.docs, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
