"""Speed of the local Personalize engine.

Subcommands (run from the repo root):
  train    Deskdrop training time: final model alone, and with the GetSolutionMetrics evaluation.
  latency  GetRecommendations latency with N concurrent clients over raw HTTP on loopback, against
           ``python -m infra.local.personalize`` in its own process, set up through the real API
           (moto S3 import, training, campaign). Clients: ``asyncio`` (N keep-alive connections driven
           from one event loop, raw HTTP/1.1) and ``threads`` (N threads with http.client; on 2 cores their
           own GIL contention shows up in the figures). ``--rates 0`` is closed loop (each client sends
           its next request as soon as it has an answer); a rate paces the clients to that total.
  scale    CreateSolutionVersion on generated interactions (default 10M events, 1M users, 100k items),
           through the control plane and the worker's run_training: wall and CPU time, peak RSS, the
           engine's log lines (each phase's seconds, the validation split, each ALS fit warm or from
           scratch, the blend chosen).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_quality import load_deskdrop  # noqa: E402
from infra.local.personalize.data import TrainingConfig  # noqa: E402
from infra.local.personalize.training import train  # noqa: E402

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"

# The minimal interactions schema both modes import (Personalize's four required fields).
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
}


def bench_train(repeats: int) -> None:
    from infra.local.personalize.metrics import evaluate

    interactions, items = load_deskdrop()
    config = TrainingConfig(recipe="aws-user-personalization")
    final, full = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        train(interactions, items, config)
        final.append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate(interactions, lambda df: train(df, items, config), seed=42)
        train(interactions, items, config)
        full.append(time.perf_counter() - start)
    print(
        f"train_deskdrop rows={len(interactions)} final_model_s={min(final):.2f} "
        f"with_metrics_s={min(full):.2f} (best of {repeats})"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("engine did not become healthy")


def wait_status(describe: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: dict[str, Any] = describe()
        if found["status"] in ("ACTIVE", "CREATE FAILED"):
            return found
        time.sleep(0.2)
    raise RuntimeError("timed out")


def setup_campaign(personalize: Any, s3: Any, updated_state: str | None = None) -> tuple[str, list[str]]:
    """Deskdrop through the API: schemas, datasets, imports, training, campaign.

    ``updated_state`` (the engine's state dir): the newest 10 % of the items and their interactions are
    imported after training, and the engine's clock file is moved 3 h on, so the campaign answers from an
    automatic update (infra/local/personalize/autoupdate.py) that adds them."""
    interactions, items = load_deskdrop()
    later_items = later_rows = None
    if updated_state is not None:
        newest = items.sort_values(["CREATION_TIMESTAMP", "ITEM_ID"]).tail(len(items) // 10)["ITEM_ID"]
        later_items, items = items[items["ITEM_ID"].isin(newest)], items[~items["ITEM_ID"].isin(newest)]
        fresh = interactions["ITEM_ID"].isin(newest)
        later_rows, interactions = interactions[fresh], interactions[~fresh]
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="interactions.csv", Body=interactions.to_csv(index=False).encode())
    s3.put_object(Bucket="bench", Key="items.csv", Body=items.to_csv(index=False).encode())
    ischema = INTERACTIONS_SCHEMA
    tschema = {
        "type": "record",
        "name": "Items",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
            {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
            {"name": "LANGUAGE", "type": ["null", "string"], "categorical": True},
        ],
    }
    group = personalize.create_dataset_group(name="bench")["datasetGroupArn"]
    datasets = {}
    for kind, schema, key in (("Interactions", ischema, "interactions.csv"), ("Items", tschema, "items.csv")):
        schema_arn = personalize.create_schema(name=f"bench-{kind}", schema=json.dumps(schema))["schemaArn"]
        dataset = personalize.create_dataset(
            name=f"bench-{kind}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        datasets[kind] = dataset
        job = personalize.create_dataset_import_job(
            jobName=f"bench-{kind}", datasetArn=dataset, dataSource={"dataLocation": f"s3://bench/{key}"}
        )
        arn = job["datasetImportJobArn"]
        found = wait_status(
            lambda a=arn: personalize.describe_dataset_import_job(datasetImportJobArn=a)["datasetImportJob"]
        )
        assert found["status"] == "ACTIVE", found
    solution = personalize.create_solution(name="bench", datasetGroupArn=group, recipeArn=RECIPE)["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_status(lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    campaign = personalize.create_campaign(name="bench", solutionVersionArn=version)["campaignArn"]
    wait_status(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    if updated_state is not None and later_items is not None and later_rows is not None:
        from infra.local.personalize import clock

        for kind, frame in (("Items", later_items), ("Interactions", later_rows)):
            s3.put_object(Bucket="bench", Key=f"later-{kind}.csv", Body=frame.to_csv(index=False).encode())
            job = personalize.create_dataset_import_job(
                jobName=f"bench-later-{kind}",
                datasetArn=datasets[kind],
                dataSource={"dataLocation": f"s3://bench/later-{kind}.csv"},
                importMode="INCREMENTAL",
            )["datasetImportJobArn"]
            found = wait_status(
                lambda a=job: personalize.describe_dataset_import_job(datasetImportJobArn=a)["datasetImportJob"]
            )
            assert found["status"] == "ACTIVE", found
        clock.set_now(updated_state, time.time() + 3 * 3600)
        print(f"automatic update: {len(later_items)} items, {len(later_rows)} interactions after training", flush=True)
    return campaign, sorted(interactions["USER_ID"].unique())


def client_loop(
    port: int, campaign: str, users: list[str], n: int, seed: int, out: list[float], interval: float = 0.0
) -> None:
    """One client: keep-alive connection, ``n`` GetRecommendations, latencies appended to ``out``.

    ``interval`` > 0 paces the client (one request every ``interval`` seconds, jittered start);
    0 sends back to back (closed loop, saturating the server).
    """
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    local = []
    next_at = time.perf_counter() + rng.random() * interval
    for _ in range(n):
        if interval:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        body = json.dumps({"campaignArn": campaign, "userId": users[rng.integers(len(users))], "numResults": 25})
        start = time.perf_counter()
        conn.request("POST", "/recommendations", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        local.append(time.perf_counter() - start)
        assert resp.status == 200
    conn.close()
    out.extend(local)


def bench_latency(clients: int, requests: int, rates: list[float], modes: list[str], updated: bool = False) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    moto_port, port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(REPO),
    }
    os.environ.update(
        {
            k: env[k]
            for k in (
                "AWS_ENDPOINT_URL_S3",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
            )
        }
    )
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.local.personalize",
                "--port",
                str(port),
                "--state-dir",
                state,
                "--log-level",
                "WARNING",
            ],
            cwd=REPO,
            env=env,
        )
        try:
            wait_healthy(url)
            personalize = boto3.client("personalize", endpoint_url=url)
            campaign, users = setup_campaign(personalize, boto3.client("s3"), state if updated else None)
            client_loop(port, campaign, users, 200, 99, [])
            for mode in modes:
                for rate in rates:
                    run_clients(port, campaign, users, clients, requests, rate, mode)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            moto.stop()


async def async_client(
    port: int, campaign: str, users: list[str], n: int, seed: int, out: list[float], interval: float
) -> None:
    """One client on its own keep-alive connection, written against raw HTTP/1.1 (no client library)."""
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    next_at = time.perf_counter() + rng.random() * interval
    for _ in range(n):
        if interval:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        user = users[rng.integers(len(users))]
        body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": 25}).encode()
        head = "POST /recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        start = time.perf_counter()
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        header = await reader.readuntil(b"\r\n\r\n")
        length = int(header.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        out.append(time.perf_counter() - start)
        assert header.startswith(b"HTTP/1.1 200")
    writer.close()


def run_clients(
    port: int, campaign: str, users: list[str], clients: int, requests: int, rate: float, mode: str
) -> None:
    """``clients`` concurrent clients at ``rate`` requests/s in all (0 = closed loop); prints percentiles."""
    interval = clients / rate if rate else 0.0
    latencies: list[float] = []
    start = time.perf_counter()
    if mode == "asyncio":

        async def all_clients() -> None:
            await asyncio.gather(
                *(async_client(port, campaign, users, requests, k, latencies, interval) for k in range(clients))
            )

        asyncio.run(all_clients())
    else:
        threads = [
            threading.Thread(target=client_loop, args=(port, campaign, users, requests, k, latencies, interval))
            for k in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    print(
        f"get_recommendations client={mode} clients={clients} offered_rps={rate or 'max'} requests={len(ms)} "
        f"p50_ms={np.percentile(ms, 50):.2f} p99_ms={np.percentile(ms, 99):.2f} max_ms={ms.max():.1f} "
        f"throughput_rps={len(ms) / elapsed:.0f}",
        flush=True,
    )


def generate(n_events: int, n_users: int, n_items: int, seed: int = 0) -> pd.DataFrame:
    """Zipf-ish item popularity, uniform users, a year of timestamps."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=n_events, p=weights / weights.sum()).astype(np.int32)
    users = rng.integers(0, n_users, size=n_events, dtype=np.int32)
    ts = rng.integers(1_700_000_000, 1_700_000_000 + 365 * 86_400, size=n_events)
    events = pd.Categorical.from_codes(rng.choice(3, size=n_events, p=[0.85, 0.1, 0.05]), ["read", "like", "save"])
    user_ids = pd.Categorical.from_codes(users, [f"u{k}" for k in range(n_users)])
    item_ids = pd.Categorical.from_codes(items, [f"i{k}" for k in range(n_items)])
    return pd.DataFrame({"USER_ID": user_ids, "ITEM_ID": item_ids, "TIMESTAMP": ts, "EVENT_TYPE": events})


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def import_shaped(df: pd.DataFrame) -> pd.DataFrame:
    """The frame a dataset import leaves in the store: string columns (``schema.read_csv``), int64 times."""
    return pd.DataFrame({c: df[c].astype("str") if c != "TIMESTAMP" else df[c] for c in df.columns})


def bench_scale(n_events: int, n_users: int, n_items: int, profile: str | None) -> None:
    """CreateSolutionVersion of aws-user-personalization on generated interactions, as the engine runs it:
    the control plane's call, then the worker's ``run_training`` (data minimums, GetSolutionMetrics'
    evaluation with its blend search, the final model with its blend search, the model persisted).
    The interactions are put in the store as an import leaves them (the S3/CSV import is not timed).
    """
    import cProfile
    import logging

    from threadpoolctl import threadpool_limits

    from infra.local.personalize.__main__ import JsonFormatter
    from infra.local.personalize.jobs import Worker
    from infra.local.personalize.service import ControlPlane
    from infra.local.personalize.store import Store

    class InlineWorker(Worker):
        """The engine's worker, running each job at once on this thread (so cProfile sees it)."""

        def submit(self, fn: Any, *args: Any) -> Any:
            self._guard(fn, *args)

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    threadpool_limits(1, "blas")  # as ``python -m infra.local.personalize`` runs
    start, cpu = time.perf_counter(), _cpu_s()
    df = import_shaped(generate(n_events, n_users, n_items))
    print(f"step=generate wall_s={time.perf_counter() - start:.1f} cpu_s={_cpu_s() - cpu:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as state:
        store = Store(state)
        api = ControlPlane(store, InlineWorker(store))
        schema_arn = api.dispatch("CreateSchema", {"name": "scale", "schema": json.dumps(INTERACTIONS_SCHEMA)})[
            "schemaArn"
        ]
        group = api.dispatch("CreateDatasetGroup", {"name": "scale"})["datasetGroupArn"]
        dataset = api.dispatch(
            "CreateDataset",
            {"name": "scale", "schemaArn": schema_arn, "datasetGroupArn": group, "datasetType": "Interactions"},
        )["datasetArn"]
        store.set_frame(dataset, df)
        del df
        solution = api.dispatch("CreateSolution", {"name": "scale", "datasetGroupArn": group, "recipeArn": RECIPE})
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), _cpu_s()
        if profiler:
            profiler.enable()
        arn = api.dispatch("CreateSolutionVersion", {"solutionArn": solution["solutionArn"]})["solutionVersionArn"]
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        wall, cpu = time.perf_counter() - start, _cpu_s() - cpu
        version = store.get("solutionVersions", arn)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        metrics = version.get("_metrics", {})
        ndcg = metrics.get("normalized_discounted_cumulative_gain_at_10", float("nan"))
        tuned = (version.get("tunedHPOParams") or {}).get("algorithmHyperParameters")
        print(
            f"scale events={n_events} users={n_users} items={n_items} status={version['status']} "
            f"solution_version_s={wall:.1f} cpu_s={cpu:.1f} peak_rss_gb={peak_gb:.2f} ndcg10={ndcg:.4f} "
            f"load1={os.getloadavg()[0]:.1f} tuned={tuned}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--repeats", type=int, default=3)
    lat = sub.add_parser("latency")
    lat.add_argument("--clients", type=int, default=16)
    lat.add_argument("--requests", type=int, default=500, help="per client")
    lat.add_argument("--rates", default="0,1000", help="total offered requests/s per run; 0 = closed loop")
    lat.add_argument(
        "--client",
        default="asyncio,threads",
        help="asyncio: raw HTTP on 16 connections; threads: http.client",
    )
    lat.add_argument(
        "--updated",
        action="store_true",
        help="answer from an automatic update: the newest 10%% of items imported after training, clock +3 h",
    )
    s = sub.add_parser("scale")
    s.add_argument("--events", type=int, default=10_000_000)
    s.add_argument("--users", type=int, default=1_000_000)
    s.add_argument("--items", type=int, default=100_000)
    s.add_argument("--profile", help="write a cProfile of the solution version to this file")
    args = parser.parse_args(argv)
    if args.cmd == "train":
        bench_train(args.repeats)
    elif args.cmd == "latency":
        rates = [float(r) for r in args.rates.split(",")]
        bench_latency(args.clients, args.requests, rates, args.client.split(","), args.updated)
    else:
        bench_scale(args.events, args.users, args.items, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
