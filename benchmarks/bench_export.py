"""Speed and memory of the export (run from the repo root).

Subcommands:
  memory    Transform + CSV of generated interactions from an in-memory source, one subprocess
            per size (default 1M and 5M rows); reports rows/s and peak RSS, and the RSS growth
            between the smallest and largest size.
  shards    Against a private Firestore emulator: wall time of one run over a whole day vs the same
            day fanned out as shards, each run in its own process in parallel (default 40k docs, 4 shards);
            reports the speed-up and the rows one run exports in 540 s (rows/s x 540).
  emulator  Against a private Firestore emulator: the export's docs/s (the adapter's stream, capture's
            checks, CSV) as a ratio to the raw ``Query.stream()`` speed of the same query, measured
            alternately in the same run, each going first in turn (default 20k docs, 3 pairs); and the
            export's peak RSS growth (sampled) per run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.export.job import ExportOptions, extract_dataset  # noqa: E402

T0 = 1_795_824_000  # 2026-11-28T00:00Z
EVENT_TYPES = ("open", "read", "comment", "like", "save")
DEVICES = ("Web", "iOS", "Android", None)


class Rec:
    """A document as the store hands it over: id and data (cheaper than a frozen dataclass)."""

    __slots__ = ("data", "id")

    def __init__(self, doc_id: str, data: dict[str, Any]) -> None:
        self.id = doc_id
        self.data = data


def interaction(i: int, users: list[str], items: list[str]) -> tuple[str, dict[str, Any]]:
    """Interaction ``i``: ~12 events a second, TIMESTAMP trailing capture by 0 to 4 s."""
    click = f"c{i:010d}"
    return click, {
        "USER_ID": users[(i * 7919) % len(users)],
        "ITEM_ID": items[(i * 104_729) % len(items)],
        "TIMESTAMP": T0 + i // 12 - (i * 31) % 5,
        "EVENT_TYPE": EVENT_TYPES[i % 5],
        "EVENT_VALUE": float(i % 100) if i % 4 == 0 else None,
        "DEVICE": DEVICES[i % 4],
        "SESSION_ID": f"sess-{i // 20}",
        "click_id": click,
    }


def generate(n: int) -> Iterator[Rec]:
    users = [f"user-{u:07d}" for u in range(100_000)]
    items = [f"story-{s:06d}" for s in range(20_000)]
    for i in range(n):
        doc_id, data = interaction(i, users, items)
        yield Rec(doc_id, data)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def memory_child(n: int) -> dict[str, Any]:
    """One size in this process: generation alone, then the export of the same stream.

    Rates are reported net of generation, by wall clock and by CPU time of this process (the
    machine is shared: CPU time is what the export itself costs when other work competes for cores).
    """
    gc.disable()  # the export pauses the cyclic GC in its hot loop: time generation the same way
    wall, cpu = _clocks()
    deque(generate(n), maxlen=0)
    gen_wall, gen_cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.enable()
    base_rss = _maxrss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        wall, cpu = _clocks()
        parts, converter = extract_dataset("interactions", lambda: generate(n), tmp, ExportOptions())
        total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(p.size for p in parts)
    rows = sum(p.rows for p in parts)
    assert rows == n and converter.rejected_total == 0
    return {
        "rows": rows, "parts": len(parts), "csv_mb": round(size / 1e6, 1),
        "generate_wall_s": round(gen_wall, 2), "total_wall_s": round(total_wall, 2),
        "net_rows_per_s_wall": round(rows / (total_wall - gen_wall)),
        "net_rows_per_s_cpu": round(rows / (total_cpu - gen_cpu)),
        "total_rows_per_s_wall": round(rows / total_wall),
        "rss_before_mb": round(base_rss, 1), "max_rss_mb": round(_maxrss_mb(), 1),
    }


def memory(sizes: list[int]) -> None:
    results = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "memory-child", str(n)], check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result))
    growth = results[-1]["max_rss_mb"] - results[0]["max_rss_mb"]
    print(json.dumps({"rss_growth_mb": round(growth, 1), "from_rows": sizes[0], "to_rows": sizes[-1],
                      "load_avg_1m": round(os.getloadavg()[0], 2)}))


def _seed(client: Any, n: int) -> None:
    """``n`` interactions in batches of 500, committed on 4 threads."""
    from concurrent.futures import ThreadPoolExecutor

    users = [f"user-{u:05d}" for u in range(2_000)]
    items = [f"story-{s:04d}" for s in range(1_000)]
    base = datetime.fromtimestamp(T0, UTC)

    def commit(first: int) -> None:
        batch = client.batch()
        for i in range(first, min(first + 500, n)):
            doc_id, data = interaction(i, users, items)
            data["captured_at"] = base + timedelta(seconds=i // 12, microseconds=i % 12)
            batch.set(client.collection("ml_interactions").document(doc_id), data)
        batch.commit()

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in pool.map(commit, range(0, n, 500)):
            pass


def _raw(client: Any, start: datetime, end: datetime) -> int:
    from google.cloud.firestore_v1 import FieldFilter

    query = (
        client.collection("ml_interactions")
        .where(filter=FieldFilter("captured_at", ">=", start))
        .where(filter=FieldFilter("captured_at", "<", end))
        .order_by("captured_at")
    )
    # one RunQuery with a deadline long enough for a large day (the SDK's default is 300 s)
    return sum(1 for snap in query.stream(timeout=3600) if snap.to_dict() is not None)


class PeakRss:
    """Peak resident memory of this process while the block runs, sampled every 20 ms (MB above the start)."""

    def __enter__(self) -> PeakRss:
        import threading

        self._stop = threading.Event()
        self.start_mb = self.peak_mb = _rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _export(client: Any, start: datetime, end: datetime, page_size: int) -> int:
    from shared.adapters.firestore import FirestoreDocumentStore
    from shared.ports import Query, Where

    store = FirestoreDocumentStore(client, timeout=20.0)  # the production default of STORYREC_TIMEOUT_FIRESTORE
    query = Query("ml_interactions", (Where("captured_at", ">=", start), Where("captured_at", "<", end)),
                  ("captured_at",))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        parts, _ = extract_dataset(
            "interactions", lambda: store.stream(query, page_size=page_size), tmp, ExportOptions()
        )
    return sum(p.rows for p in parts)


@contextlib.contextmanager
def _seeded_emulator(n: int) -> Iterator[tuple[Any, float]]:
    """A private Firestore emulator holding ``n`` interactions: (client, seconds the seeding took)."""
    from infra.local.stack import LocalStack
    from shared.config import Settings
    from shared.wiring import firestore_client

    with tempfile.TemporaryDirectory(prefix="bench-export-stack-") as state:
        stack = LocalStack(state)
        try:
            os.environ.update(stack.up(("firestore",)))
            client = firestore_client(Settings.from_env(os.environ))
            t = time.perf_counter()
            _seed(client, n)
            yield client, time.perf_counter() - t
        finally:
            stack.down()


def emulator(n: int, repeats: int, page_size: int) -> None:
    """Raw ``stream()`` and the export of the same ``n`` documents, alternately, ``repeats`` times."""
    with _seeded_emulator(n) as (client, seed_s):
        start, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0, UTC) + timedelta(days=2)
        raw, export, export_s, rss, loads = [], [], [], [], []
        for repeat in range(repeats):
            for step in ("raw", "export") if repeat % 2 == 0 else ("export", "raw"):  # each goes first in turn
                loads.append(round(os.getloadavg()[0], 2))
                gc.collect()
                if step == "raw":
                    t = time.perf_counter()
                    assert _raw(client, start, end) == n
                    raw.append(n / (time.perf_counter() - t))
                    continue
                with PeakRss() as peak:
                    t = time.perf_counter()
                    assert _export(client, start, end, page_size) == n
                    export_s.append(time.perf_counter() - t)
                export.append(n / export_s[-1])
                rss.append(peak.growth_mb)
        loads.append(round(os.getloadavg()[0], 2))
    print(json.dumps({
        "docs": n, "seed_s": round(seed_s, 1), "page_size": page_size,
        "raw_docs_per_s": [round(x) for x in raw], "export_docs_per_s": [round(x) for x in export],
        "export_s": [round(x, 1) for x in export_s],
        "best_ratio": round(max(export) / max(raw), 2),
        "median_ratio": round(statistics.median(e / r for e, r in zip(export, raw, strict=True)), 2),
        "ratios": [round(e / r, 2) for e, r in zip(export, raw, strict=True)],
        "export_rss_growth_mb": [round(x, 1) for x in rss],
        "load_avg_1m": loads[-1], "load_avg_1m_each": loads,
    }))


COUNTS: list[float] = []


class _Timed:
    """A DocumentCounter that records how long each count takes."""

    def __init__(self, counter: Any) -> None:
        self._counter = counter

    def count(self, collection: str, where: Any = ()) -> int:
        t = time.perf_counter()
        try:
            return int(self._counter.count(collection, where))
        finally:
            COUNTS.append(time.perf_counter() - t)


def _bench_deps(client: Any, rows_per_run: int, published: list[dict[str, Any]] | None) -> Any:
    """Export deps over the Firestore emulator with in-memory buckets (the upload is not what is measured)."""
    from shared.adapters.counters import FirestoreCounter
    from shared.adapters.firestore import FirestoreDocumentStore
    from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
    from shared.export import ExportDeps

    class ListPublisher:
        def publish(self, body: Any) -> str:
            assert published is not None
            published.append(json.loads(json.dumps(body)))
            return str(len(published))

    return ExportDeps(
        docs=FirestoreDocumentStore(client, timeout=60),
        import_store=InMemoryObjectStore("import"),
        backup_store=InMemoryObjectStore("backup"),
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: datetime.fromtimestamp(T0, UTC) + timedelta(days=2),
        publisher=ListPublisher() if published is not None else None,
        count=_Timed(FirestoreCounter(client, timeout=60)),
        rows_per_run=rows_per_run,
    )


def _warm() -> None:
    """Pool initializer: import the export and open a client, as a warm function instance has."""
    from shared.config import Settings
    from shared.export import shards  # noqa: F401
    from shared.wiring import firestore_client

    _WARM["client"] = firestore_client(Settings.from_env(os.environ))


_WARM: dict[str, Any] = {}


def _shard_worker(body: dict[str, Any]) -> tuple[bool, float]:
    """One shard in its own process (as one function instance): returns (finalised, seconds)."""
    from shared.config import Settings
    from shared.export.guards import Overrides
    from shared.export.run import run_export_event
    from shared.export.shards import Shard
    from shared.wiring import firestore_client

    client = _WARM.get("client") or firestore_client(Settings.from_env(os.environ))
    t = time.perf_counter()
    result = run_export_event(
        datetime.fromisoformat(body["date"]).date(), _bench_deps(client, 1, None), None, Overrides(),
        Shard.parse(body["shard"]),
    )
    return result is not None, time.perf_counter() - t


def shards(n: int, shard_count: int, repeats: int) -> None:
    """Wall time of one run over the whole day vs the same day as shards run in parallel processes."""
    import multiprocessing

    from shared.export.run import run_export, run_export_event

    day = datetime.fromtimestamp(T0, UTC).date()
    single, sharded, per_shard, fan_out = [], [], [], []
    count_calls: list[tuple[int, float]] = []
    with _seeded_emulator(n) as (client, _), multiprocessing.get_context("spawn").Pool(
        shard_count + 1, initializer=_warm
    ) as pool:
        pool.map(abs, range(shard_count + 1))  # workers started before the clock runs
        for _ in range(repeats):
            client.recursive_delete(client.collection("ml_state"))
            t = time.perf_counter()
            assert run_export(day, _bench_deps(client, n, None)).rows("interactions") == n
            single.append(time.perf_counter() - t)
            client.recursive_delete(client.collection("ml_state"))
            published: list[dict[str, Any]] = []
            COUNTS.clear()
            t = time.perf_counter()
            assert run_export_event(day, _bench_deps(client, -(-n // shard_count), published)) is None
            fan_out.append(time.perf_counter() - t)
            count_calls.append((len(COUNTS), sum(COUNTS)))
            outcomes = pool.map(_shard_worker, published)
            sharded.append(time.perf_counter() - t)
            assert sum(1 for finalised, _ in outcomes if finalised) == 1
            per_shard.append(max(s for _, s in outcomes))
    print(json.dumps({
        "docs": n, "shards": shard_count, "single_s": [round(x, 2) for x in single],
        "sharded_s": [round(x, 2) for x in sharded], "slowest_shard_s": [round(x, 2) for x in per_shard],
        "fan_out_s": [round(x, 2) for x in fan_out],
        "fan_out_count_calls_and_s": [(n_, round(s_, 2)) for n_, s_ in count_calls],
        "speedup_best": round(min(single) / min(sharded), 2),
        "single_rows_per_s_best": round(n / min(single)),
        "rows_in_540s_single_run": round(540 * n / min(single)),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    mem = sub.add_parser("memory")
    mem.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    child = sub.add_parser("memory-child")
    child.add_argument("rows", type=int)
    emu = sub.add_parser("emulator")
    emu.add_argument("--docs", type=int, default=20_000)
    emu.add_argument("--repeats", type=int, default=3)
    emu.add_argument("--page-size", type=int, default=ExportOptions().page_size)
    sh = sub.add_parser("shards")
    sh.add_argument("--docs", type=int, default=40_000)
    sh.add_argument("--shards", type=int, default=4)
    sh.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.command == "memory":
        memory(args.sizes)
    elif args.command == "memory-child":
        print(json.dumps(memory_child(args.rows)))
    elif args.command == "shards":
        shards(args.docs, args.shards, args.repeats)
    else:
        emulator(args.docs, args.repeats, args.page_size)


if __name__ == "__main__":
    main()
