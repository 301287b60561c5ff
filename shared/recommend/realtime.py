"""Realtime fill: GetRecommendations per user on worker threads, rate-limited, retried, behind a breaker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from shared.errors import StoryrecError
from shared.logs import get_logger
from shared.personalize.model import Recommendations
from shared.recommend.calls import Breaker, RateLimiter, error_code, with_retries
from shared.recommend.campaign import request_size
from shared.recommend.catalogue import Loading
from shared.recommend.run import FeedRun
from shared.recommend.writer import FeedWrite, FeedWriter, bounded_map

_log = get_logger("recommend")

MAX_WAITING = 500
"""Answers held for the catalogue at most: then the run waits for it. The catalogue is read on a thread of its
own, which the worker threads starve of the GIL; unbounded, a 10,000-user run (BENCHMARKS, Feeds) read it
while all the calls were made and built every feed after them, the writes no longer overlapping the calls."""


def fill_realtime(run: FeedRun, users: Sequence[str], writer: FeedWriter, loading: Loading | None = None) -> None:
    """Recommend to each user and hand their feed to ``writer``; failures go to ``run.failures``.

    With ``loading`` (the catalogue and ranking being read), the calls start at once: answers that come
    before it has finished wait, unbuilt, and are built when it has (its ranking becomes ``run.ranking``).
    """
    deps, config = run.deps, run.deps.config
    assert run.campaign is not None
    campaign_arn, n = run.campaign.campaign_arn, request_size(deps.personalize.num_results)
    limiter = RateLimiter(config.campaign_tps)  # real time: the campaign's TPS is a real-time quota
    breaker = Breaker(config.breaker_failures)
    ready = threading.Event()
    waiting: list[tuple[str, Recommendations]] = []

    def build_waiting() -> None:
        if loading is not None:
            run.ranking = loading.result()
        ready.set()
        for uid, ranked in waiting:
            writer.add(run.personalized(uid, ranked))
        waiting.clear()

    if loading is None or loading.done():
        build_waiting()

    def one(uid: str) -> tuple[str, FeedWrite | Recommendations | StoryrecError | None]:
        """Recommend and build the feed on the worker thread (its catalogue look-ups run in parallel)."""
        if breaker.open:
            return uid, breaker.refusal()

        def call() -> Recommendations:
            limiter.acquire()
            return deps.recommender.get_recommendations(campaign_arn, uid, n, run.filter_arn, run.filter_values)

        try:
            ranked = with_retries(call, config, deps.sleep)
        except StoryrecError as exc:
            breaker.record(exc)
            return uid, exc
        breaker.record(None)
        if not ready.is_set():
            return uid, ranked  # built on the main thread once the catalogue is loaded
        return uid, run.personalized(uid, ranked)

    progress = Progress(len(users), run.summary.run_id, deps.monotonic)
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="feed") as pool:
        for uid, result in bounded_map(pool, one, users, config.concurrency * 4):
            if not ready.is_set() and loading is not None and loading.done():
                build_waiting()
            if isinstance(result, StoryrecError):
                code = error_code(result)
                run.failures[uid] = str(result)
                run.summary.errors[code] = run.summary.errors.get(code, 0) + 1
            elif isinstance(result, Recommendations):
                if ready.is_set():
                    writer.add(run.personalized(uid, result))
                else:
                    waiting.append((uid, result))
                    if len(waiting) >= MAX_WAITING:
                        build_waiting()  # waits for the catalogue (see MAX_WAITING)
            else:
                writer.add(result)
            progress.tick()
    if not ready.is_set():
        build_waiting()


class Progress:
    """Logs the run's progress every tenth of its users."""

    def __init__(self, total: int, run_id: str, monotonic: Callable[[], float]) -> None:
        self._total, self._done, self._run_id = total, 0, run_id
        self._step = max(1, total // 10)
        self._monotonic = monotonic
        self._started = monotonic()

    def tick(self) -> None:
        self._done += 1
        if self._done % self._step == 0 or self._done == self._total:
            elapsed = self._monotonic() - self._started
            _log.info(
                "feed fill progress",
                extra={
                    "run_id": self._run_id,
                    "done": self._done,
                    "total": self._total,
                    "users_per_second": round(self._done / max(elapsed, 1e-9), 1),
                },
            )
