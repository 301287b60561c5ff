"""Feed-fill throughput against the local Personalize engine, beside the engine's raw GetRecommendations.

Starts a private local stack (Firestore emulator, moto, the engine), trains user-personalization on
generated interactions of ``--users`` users, seeds the stories and ml_items the feeds join (sized like a
news app's: each story has a 1,240-character summary, the median of Deskdrop's, and a ``--body-chars``
body, 5,000 by default; ``ml_items`` holds what capture writes, SUMMARY included), then alternates,
``--repeats`` times over the same users at the same concurrency:

* raw: ``--concurrency`` threads calling GetRecommendations (same boto3 client config, filter,
  filter values and numResults as the fill) and discarding the answers;
* fill: ``fill_feeds`` for the same users (rate limit lifted), i.e. the calls plus write-time checks,
  the display-field join and the version-guarded Firestore writes (``write_newer``: a get_all of the
  stored versions + a BatchWrite per 500 feeds). Each fill runs at a later clock than the one before,
  so every feed is really written (the summary's ``superseded`` must be 0).

Then one batch-inference fill (CreateBatchInferenceJob, JSON lines on moto S3, the output loaded into
feeds). Prints one ``key=value`` line per measurement. Usage (from the repo root)::

    .venv/bin/python benchmarks/bench_feeds.py --users 100000 --concurrency 8 --repeats 2

``--shapes N`` only measures the emulator's write rate of N feeds by document shape (the former array
of maps vs the JSON string) and write API (``write_batch`` vs the guarded ``write_newer``)::

    .venv/bin/python benchmarks/bench_feeds.py --shapes 5000

``--cpu-split`` adds to each raw and fill line the CPU (of the thread that ran it) spent inside each step, in ms
per user: the GetRecommendations call, the feed's build, the guarded write, the re-check and the catalogue's
reads (``split_ms_per_user=...``). It wraps those functions of the product for the run, so read the other
figures of such a run as slightly higher than without it::

    .venv/bin/python benchmarks/bench_feeds.py --users 10000 --repeats 2 --no-batch --cpu-split

Every raw and fill line also carries ``call_share``: the share of this process's CPU spent inside the
GetRecommendations calls (``PersonalizeGateway.get_recommendations``, the CPU of the thread that ran each). The
calls are the same work in both, so the fill's share over raw's, measured within each run, is what the fill's own
client work costs against the calls, whatever speed the machine had during that run; the machine's speed moves by
a third within minutes here (docs/BENCHMARKS.md, Feeds). After the last fill a closing raw run brackets it, so
each fill has a raw run on both sides.

``--catalogue-reads R`` only measures this process's CPU reading the catalogue of ``--items`` stories (the
run's preload with and without its field masks, and each read with no field at all), median of R::

    .venv/bin/python benchmarks/bench_feeds.py --catalogue-reads 7
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infra.local.stack import LocalStack  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.ports import Query, Write  # noqa: E402


class WholeDocuments:
    """A document store with every field mask dropped: the catalogue reads whole documents (the bench's and the
    emulator test's comparison of the masked read with the unmasked one)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_many(self, paths: Any, **_: Any) -> Any:
        return self._inner.get_many(paths)

    def stream(self, query: Query, **kw: Any) -> Any:
        return self._inner.stream(replace(query, fields=None), **kw)

    def query(self, query: Query) -> Any:
        return self._inner.query(replace(query, fields=None))


CPU_MS_PER_USER = [0.0]
SPLIT: dict[str, float] = {}
"""Thread CPU seconds inside each step of the run being measured (``--cpu-split``; empty without it)."""
"""This process's CPU (the Python client side, not the emulator's or the engine's) per user of the last run."""
MACHINE = [""]
"""The whole machine's CPU over the last run (``machine_fields``): the engine's and the emulator's work too."""
NOW = 1_764_400_000  # 2025-11-29: generated stories are from the 30 days before it


def generate(n_users: int, n_items: int, per_user: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zipf-ish item popularity; every user has ``per_user`` reads in the last 30 days."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    n = n_users * per_user
    items = rng.choice(n_items, size=n, p=weights / weights.sum())
    users = np.repeat(np.arange(n_users), per_user)
    interactions = pd.DataFrame(
        {
            "USER_ID": [f"u{u}" for u in users],
            "ITEM_ID": [f"i{i}" for i in items],
            "TIMESTAMP": NOW - rng.integers(0, 30 * 86400, size=n),
            "EVENT_TYPE": "read",
        }
    ).drop_duplicates(["USER_ID", "ITEM_ID"])
    catalogue = pd.DataFrame(
        {"ITEM_ID": [f"i{i}" for i in range(n_items)], "CREATION_TIMESTAMP": NOW - rng.integers(0, 20 * 86400, n_items)}
    )
    return interactions, catalogue


def wait(describe: Any, key: str) -> None:
    while True:
        found = describe()[key]
        if found["status"] in ("ACTIVE", "CREATE FAILED"):
            assert found["status"] == "ACTIVE", found
            return
        time.sleep(0.5)


def train(settings: Settings, interactions: pd.DataFrame, catalogue: pd.DataFrame) -> None:
    from shared import wiring

    control, s3 = wiring.aws_client("personalize", settings), wiring.aws_client("s3", settings)
    s3.create_bucket(Bucket=settings.import_bucket)
    group = control.create_dataset_group(name=settings.personalize.dataset_group)["datasetGroupArn"]
    string = [{"name": n, "type": "string"} for n in ("USER_ID", "ITEM_ID")]
    schemas = {
        "Interactions": [*string, {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"}],
        "Items": [{"name": "ITEM_ID", "type": "string"}, {"name": "CREATION_TIMESTAMP", "type": "long"}],
    }
    for kind, frame in (("Interactions", interactions), ("Items", catalogue)):
        schema = json.dumps({"type": "record", "name": kind, "fields": schemas[kind]})
        schema_arn = control.create_schema(name=f"bench-{kind}", schema=schema)["schemaArn"]
        dataset = control.create_dataset(
            name=f"bench-{kind}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        s3.put_object(Bucket=settings.import_bucket, Key=f"{kind}.csv", Body=frame.to_csv(index=False).encode())
        job = control.create_dataset_import_job(
            jobName=f"bench-{kind}",
            datasetArn=dataset,
            dataSource={"dataLocation": f"s3://{settings.import_bucket}/{kind}.csv"},
            roleArn="arn:aws:iam::000000000000:role/bench",
        )["datasetImportJobArn"]
        wait(lambda j=job: control.describe_dataset_import_job(datasetImportJobArn=j), "datasetImportJob")
    solution = control.create_solution(
        name=settings.personalize.solution, datasetGroupArn=group, recipeArn=settings.personalize.recipe_arn
    )["solutionArn"]
    version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait(lambda: control.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    campaign = control.create_campaign(name=settings.personalize.campaign, solutionVersionArn=version)["campaignArn"]
    wait(lambda: control.describe_campaign(campaignArn=campaign), "campaign")


WORDS = tuple(
    re.findall(
        r"\w+",
        "the of and to in a is that for on with as by at from market city government report new year people said "
        "company data cloud service users study league season police minister court health climate energy price "
        "school team players election policy research growth council water transport local national plan week",
    )
)


SUMMARY_CHARS = 1_240
"""The median summary of Deskdrop's articles (``training_text`` of ../shared/data/deskdrop/articles.csv)."""


def text(rng: np.random.Generator, chars: int) -> str:
    """About ``chars`` characters of words (a summary or an article body)."""
    if chars <= 0:
        return ""
    words = rng.choice(WORDS, size=chars // 5 + 1)
    return " ".join(words)[:chars]


def story_documents(sid: str, created: int, rng: np.random.Generator, body_chars: int) -> tuple[dict, dict]:
    """A ``stories/{id}`` document as a news app stores it and the ``ml_items/{id}`` capture makes of it.

    ``body_chars`` 0: the tiny documents the bench used before (display fields only; ``ml_items`` with
    ITEM_ID, CREATION_TIMESTAMP and active), kept to compare with the older figures.
    """
    display = {
        "title": f"Story {sid}",
        "url": f"https://news/{sid}",
        "image": f"https://img/{sid}.jpg",
        "source": "wire",
    }
    if body_chars <= 0:
        return display, {"ITEM_ID": sid, "CREATION_TIMESTAMP": created, "active": True}
    published = pd.Timestamp(created, unit="s", tz="UTC").to_pydatetime()
    title = text(rng, 70).capitalize()
    summary = text(rng, SUMMARY_CHARS)
    tags = [str(t) for t in rng.choice(WORDS, size=5, replace=False)]
    story = {
        **display,
        "title": title,
        "category": "news",
        "tags": tags,
        "lang": "en",
        "summary": summary,
        "body": text(rng, body_chars),
        "publishedAt": published,
        "status": "published",
    }
    item = {  # what capture writes (shared.capture.records.story_to_item and the version stamps)
        "ITEM_ID": sid,
        "CREATION_TIMESTAMP": created,
        "CATEGORY": "news",
        "TAGS": "|".join(tags),
        "SOURCE": "wire",
        "LANGUAGE": "en",
        "SUMMARY": summary,
        "TITLE": title,
        "tags_dropped": 0,
        "active": True,
        "source_updated_at": published,
        "updated_at": published,
    }
    return story, item


def seed_stories(settings: Settings, catalogue: pd.DataFrame, body_chars: int) -> None:
    from shared import wiring

    rng = np.random.default_rng(1)
    writes = []
    for row in catalogue.itertuples(index=False):
        sid = str(row.ITEM_ID)
        story, item = story_documents(sid, int(row.CREATION_TIMESTAMP), rng, body_chars)
        writes.append(Write(f"stories/{sid}", data=story))
        writes.append(Write(f"ml_items/{sid}", data=item))
    wiring.document_store(settings).write_batch(writes)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy since boot, all cores and processes (the bench, the engine,
    the emulator, moto): user, system and interrupt time; niced work and time stolen by the host excluded."""
    user, _nice, system, _idle, _iowait, irq, softirq = (int(x) for x in Path("/proc/stat").read_text().split()[1:8])
    return (user + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """One run's wall seconds and this process's CPU seconds; the machine's work goes to ``MACHINE``."""

    wall_s: float = 0.0
    cpu_s: float = 0.0


def split_cpu(only_call: bool = False) -> None:
    """Count, in :data:`SPLIT`, the CPU of the thread running each step of a raw run or a fill (outermost call only:
    a step inside another is counted in the outer one); ``only_call``: the GetRecommendations call alone."""
    import functools
    import threading

    from shared.adapters.firestore import FirestoreDocumentStore
    from shared.adapters.personalize import PersonalizeGateway
    from shared.recommend.catalogue import Catalogue
    from shared.recommend.run import FeedRun

    inside = threading.local()
    steps = [
        (PersonalizeGateway, "get_recommendations", "call"),
        (FeedRun, "personalized", "build"),
        (FirestoreDocumentStore, "write_newer", "write"),
        (Catalogue, "recheck", "recheck"),
        (FirestoreDocumentStore, "get_many", "reads"),
        (Catalogue, "preload", "reads"),
    ]

    def timed(step: str, method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(inside, "step", None) is not None:
                return method(*args, **kwargs)
            inside.step, started = step, time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                inside.step = None
                SPLIT[step] = SPLIT.get(step, 0.0) + time.thread_time() - started

        return wrapper

    for owner, name, step in steps[:1] if only_call else steps:
        setattr(owner, name, timed(step, getattr(owner, name)))


def split_text(users: int, detailed: bool) -> str:
    """The run just measured: the calls' share of this process's CPU, and with ``detailed`` (``--cpu-split``) the
    CPU per user of each step; then resets the counts."""
    share = SPLIT.get("call", 0.0) * 1000 / users / CPU_MS_PER_USER[0] if CPU_MS_PER_USER[0] > 0 else float("nan")
    text = ",".join(f"{step}:{seconds * 1000 / users:.3f}" for step, seconds in SPLIT.items())
    SPLIT.clear()
    return f" call_share={share:.4f}" + (f" split_ms_per_user={text}" if detailed else "")


@contextmanager
def measured() -> Iterator[Measured]:
    """Times the block: wall and this process's CPU seconds, and the whole machine's CPU as ``MACHINE``'s tokens
    (its CPU seconds and the share of its cores used)."""
    out = Measured()
    start, cpu, busy = time.perf_counter(), time.process_time(), machine_busy_s()
    yield out
    out.wall_s, out.cpu_s = time.perf_counter() - start, time.process_time() - cpu
    machine = machine_busy_s() - busy
    cores = os.cpu_count() or 1
    MACHINE[0] = f"machine_cpu_s={machine:.3f} machine_busy_share={machine / (out.wall_s * cores):.2f}"


def raw_run(deps: Any, users: list[str], concurrency: int) -> float:
    """GetRecommendations for every user through the same adapter and parameters as the fill; users/s."""
    from shared.recommend.campaign import AGE_PARAM, min_created, prepare, request_size

    campaign, filter_arn = prepare(deps)
    values = {AGE_PARAM: str(min_created(deps.clock(), deps.config))}
    n = request_size(deps.personalize.num_results)

    def one(uid: str) -> int:
        return len(deps.recommender.get_recommendations(campaign.campaign_arn, uid, n, filter_arn, values))

    SPLIT.clear()
    with measured() as run, ThreadPoolExecutor(max_workers=concurrency) as pool:
        answered = sum(1 for count in pool.map(one, users, chunksize=64) if count)
    CPU_MS_PER_USER[0] = run.cpu_s * 1000 / len(users)
    assert answered == len(users), answered
    return len(users) / run.wall_s


def fill_run(deps: Any, users: list[str], label: str, run: int) -> tuple[float, Any]:
    """One fill, ``run`` seconds after NOW: later than every fill before it, so each feed is written."""
    from shared.recommend import fill_feeds

    deps.clock = lambda: clock() + timedelta(seconds=run)
    SPLIT.clear()
    with measured() as timed:
        summary = fill_feeds(deps, users=users, run_id=label)
    CPU_MS_PER_USER[0] = timed.cpu_s * 1000 / len(users)
    assert summary.personalized == len(users) and summary.stale == 0 and summary.superseded == 0, summary
    assert summary.mode == ("batch" if deps.config.batch_threshold <= len(users) else "realtime"), summary
    return len(users) / timed.wall_s, summary


def fixed_run(deps: Any, run: int) -> tuple[float, float]:
    """Seconds and this process's CPU seconds of a fill of no user: the fixed cost of a run (window,
    catalogue, ranking, campaign, report)."""
    from shared.recommend import fill_feeds

    deps.clock = lambda: clock() + timedelta(seconds=run)
    with measured() as timed:
        fill_feeds(deps, users=[], run_id=f"bench-fixed-{run}")
    return timed.wall_s, timed.cpu_s


def clock() -> Any:
    return pd.Timestamp(NOW, unit="s", tz="UTC").to_pydatetime()


def legacy_document(doc: dict[str, Any], uid: str) -> dict[str, Any]:
    """The feed document as it was before itemsJson: an array of maps (+ storyIds, uid, campaignArn)."""
    from shared.recommend.document import feed_items

    items = [{**item, "rank": rank} for rank, item in enumerate(feed_items(doc), start=1)]
    extra = {"uid": uid, "campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/bench"}
    body = {k: v for k, v in doc.items() if k != "itemsJson"}
    return {**body, **extra, "storyIds": [i["storyId"] for i in items], "items": items}


def shapes(n: int) -> None:
    """Write rate of n 25-story feeds on the emulator, by shape and write API, on 4 writer threads."""
    from shared import wiring
    from shared.ports import NewerWrite
    from shared.recommend.catalogue import Story
    from shared.recommend.document import feed_document

    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp, stack_env(Path(tmp), ("firestore",)) as env:
        docs = wiring.document_store(Settings.from_env(env))
        stories = [
            Story(f"i{k}", NOW, {"title": f"Story i{k}", "url": f"https://news/i{k}", "image": None, "source": "wire"})
            for k in range(25)
        ]
        for round_, shape in enumerate(("arrays", "json", "arrays", "json")):
            for api in ("write_batch", "write_newer"):
                at = clock() + timedelta(seconds=round_ * 10 + (api == "write_newer"))
                doc = feed_document(
                    [(s, 0.9 - k / 100) for k, s in enumerate(stories)],
                    kind="personalized",
                    generated_at=at,
                    run_id="shapes",
                    campaign=None,
                    recommendation_id="rid",
                )
                body = {f"u{u}": legacy_document(doc, f"u{u}") if shape == "arrays" else doc for u in range(n)}
                chunks = [list(body.items())[i : i + 500] for i in range(0, n, 500)]
                collection = f"feeds_{shape}"

                def one(
                    chunk: list[tuple[str, dict[str, Any]]], api: str = api, at: Any = at, collection: str = collection
                ) -> int:
                    if api == "write_batch":
                        return docs.write_batch([Write(f"{collection}/{u}", data=d) for u, d in chunk])
                    outcomes = docs.write_newer(
                        [NewerWrite(f"{collection}/{u}", d, at) for u, d in chunk], version_field="generatedAt"
                    )
                    return outcomes.count("written")

                start = time.perf_counter()
                with ThreadPoolExecutor(max_workers=4) as pool:
                    written = sum(pool.map(one, chunks))
                elapsed = time.perf_counter() - start
                assert written == n, written
                print(
                    f"shape={shape} api={api} pass={round_ // 2 + 1} docs={n} docs_per_s={n / elapsed:.0f} "
                    f"load={load_average()}",
                    flush=True,
                )


def catalogue_reads(n_items: int, body_chars: int, repeats: int) -> None:
    """CPU seconds of this process reading the catalogue of ``n_items`` stories on the emulator: the run's
    preload through its field masks and through none (whole documents), and each of its two reads with the
    masks and with no field at all (the cost of a document read, whatever it holds)."""
    import statistics
    from dataclasses import replace as with_

    from shared import wiring
    from shared.config import Collections
    from shared.ports import Where
    from shared.recommend.catalogue import ITEM_FIELDS, STORY_FIELDS, Catalogue

    with tempfile.TemporaryDirectory(prefix="bench-catalogue-") as tmp, stack_env(Path(tmp), ("firestore",)) as env:
        settings = Settings.from_env(env)
        _, catalogue = generate(1, n_items, 1)
        seed_stories(settings, catalogue, body_chars)
        docs = wiring.document_store(settings)
        since = NOW - 30 * 86400
        recent = Query("ml_items", (Where("CREATION_TIMESTAMP", ">=", since),), ("CREATION_TIMESTAMP",))
        paths = [f"stories/{i}" for i in catalogue["ITEM_ID"]]
        steps = {
            "preload masks": lambda: Catalogue(docs, Collections(), since).preload(),
            "preload whole_documents": lambda: Catalogue(WholeDocuments(docs), Collections(), since).preload(),
            "stream_ml_items masks": lambda: list(docs.stream(with_(recent, fields=ITEM_FIELDS))),
            "stream_ml_items whole_documents": lambda: list(docs.stream(recent)),
            "stream_ml_items no_field": lambda: list(docs.stream(with_(recent, fields=()))),
            "get_many_stories masks": lambda: docs.get_many(paths, fields=STORY_FIELDS),
            "get_many_stories whole_documents": lambda: docs.get_many(paths),
            "get_many_stories no_field": lambda: docs.get_many(paths, fields=()),
        }
        for label, step in steps.items():
            cpu = []
            for _ in range(repeats):
                start = time.process_time()
                step()
                cpu.append(time.process_time() - start)
            read, how = label.split()
            print(
                f"catalogue read={read} fields={how} items={n_items} body_chars={body_chars} "
                f"bench_cpu_s_median={statistics.median(cpu):.3f} min={min(cpu):.3f} load={load_average()}",
                flush=True,
            )


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


@contextmanager
def stack_env(
    state_dir: Path, services: tuple[str, ...] = ("moto", "firestore", "personalize")
) -> Iterator[dict[str, str]]:
    """Firestore emulator, moto and the engine in ``state_dir``, with the environment pointing at them."""
    stack = LocalStack(state_dir)
    env = stack.up(services)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        stack.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--per-user", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--memory-store", action="store_true", help="also fill into an in-memory store")
    parser.add_argument("--cpu-split", action="store_true", help="also the client CPU per user of each step")
    parser.add_argument("--shapes", type=int, default=0, help="only the write rate of N feeds by shape and API")
    parser.add_argument(
        "--body-chars",
        type=int,
        default=5_000,
        help="characters of each story's body (about 800 words); 0: the tiny story documents of the older figures",
    )
    parser.add_argument(
        "--catalogue-reads",
        type=int,
        default=0,
        metavar="REPEATS",
        help="only the CPU of reading the catalogue of --items stories, with and without field masks",
    )
    args = parser.parse_args(argv)
    if args.catalogue_reads:
        catalogue_reads(args.items, args.body_chars, args.catalogue_reads)
        return 0
    if args.shapes:
        shapes(args.shapes)
        return 0
    import logging

    logging.getLogger("storyrec").setLevel(logging.WARNING)
    split_cpu(only_call=not args.cpu_split)
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp, stack_env(Path(tmp)) as env:
        from shared.adapters.memory import RecordingMetrics, RecordingNotifier
        from shared.recommend.wiring import feed_deps

        settings = Settings.from_env(
            {
                **env,
                "STORYREC_IMPORT_BUCKET": "bench-feeds",
                "STORYREC_FEED_CAMPAIGN_TPS": "100000",
                "STORYREC_FEED_CONCURRENCY": str(args.concurrency),
                # the realtime fill is the one measured against raw: batch inference only where asked for
                "STORYREC_FEED_BATCH_THRESHOLD": str(args.users + 1),
                "STORYREC_FEED_BATCH_ROLE_ARN": "arn:aws:iam::000000000000:role/bench",
                # every reader goes to the campaign, as in the raw run (no held-out control arm)
                "STORYREC_EXPERIMENT_CONTROL_SHARE": "0",
            }
        )
        interactions, catalogue = generate(args.users, args.items, args.per_user)
        started = time.perf_counter()
        train(settings, interactions, catalogue)
        seed_stories(settings, catalogue, args.body_chars)
        print(
            f"setup users={args.users} interactions={len(interactions)} items={args.items} "
            f"body_chars={args.body_chars} "
            f"seconds={time.perf_counter() - started:.1f}",
            flush=True,
        )
        deps = feed_deps(settings, clock=clock)
        deps.notifier, deps.metrics = RecordingNotifier(), RecordingMetrics()
        deps.batch_poll_seconds = 1.0
        users = [f"u{k}" for k in range(args.users)]
        for repeat in range(1, args.repeats + 1):
            raw = raw_run(deps, users, args.concurrency)
            print(
                f"raw repeat={repeat} concurrency={args.concurrency} users_per_s={raw:.0f} load={load_average()} "
                f"bench_cpu_ms_per_user={CPU_MS_PER_USER[0]:.2f} {MACHINE[0]}{split_text(len(users), args.cpu_split)}",
                flush=True,
            )
            fill, summary = fill_run(deps, users, f"bench-{repeat}", 2 * repeat)
            print(
                f"fill repeat={repeat} concurrency={args.concurrency} users_per_s={fill:.0f} "
                f"ratio={fill / raw:.2f} mode={summary.mode} load={load_average()} "
                f"bench_cpu_ms_per_user={CPU_MS_PER_USER[0]:.2f} {MACHINE[0]}{split_text(len(users), args.cpu_split)}",
                flush=True,
            )
            fixed, fixed_cpu = fixed_run(deps, 2 * repeat + 1)
            print(
                f"fixed repeat={repeat} seconds={fixed:.3f} bench_cpu_s={fixed_cpu:.3f} {MACHINE[0]} "
                f"load={load_average()}",
                flush=True,
            )
        # a closing raw run: each fill has one before and one after it (the machine's speed drifts between runs)
        raw = raw_run(deps, users, args.concurrency)
        print(
            f"raw repeat={args.repeats + 1} closing=yes concurrency={args.concurrency} users_per_s={raw:.0f} "
            f"load={load_average()} bench_cpu_ms_per_user={CPU_MS_PER_USER[0]:.2f} {MACHINE[0]}"
            f"{split_text(len(users), args.cpu_split)}",
            flush=True,
        )
        if args.memory_store:  # the same fill writing to an in-memory store: the fill's own cost, no database
            from shared.adapters.memory import InMemoryDocumentStore

            memory = InMemoryDocumentStore()
            for snap in deps.docs.stream(Query("ml_items")):
                memory.set(snap.path, snap.data)
            for snap in deps.docs.stream(Query("stories")):
                memory.set(snap.path, snap.data)
            on_emulator, deps.docs = deps.docs, memory
            raw = raw_run(deps, users, args.concurrency)
            raw_cpu = CPU_MS_PER_USER[0]
            fill, _ = fill_run(deps, users, "bench-memory", 2 * args.repeats + 2)
            print(
                f"fill_memory_store concurrency={args.concurrency} raw_users_per_s={raw:.0f} "
                f"fill_users_per_s={fill:.0f} ratio={fill / raw:.2f} load={load_average()} "
                f"raw_cpu_ms_per_user={raw_cpu:.2f} fill_cpu_ms_per_user={CPU_MS_PER_USER[0]:.2f}",
                flush=True,
            )
            deps.docs = on_emulator
        if not args.no_batch:
            raw = raw_run(deps, users, args.concurrency)
            print(
                f"raw before_batch concurrency={args.concurrency} users_per_s={raw:.0f} load={load_average()} "
                f"bench_cpu_ms_per_user={CPU_MS_PER_USER[0]:.2f}",
                flush=True,
            )
            deps.config = replace(deps.config, batch_threshold=1)
            batch, summary = fill_run(deps, users, "bench-batch", 2 * args.repeats + 3)
            print(
                f"batch users={args.users} users_per_s={batch:.0f} mode={summary.mode} load={load_average()}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
