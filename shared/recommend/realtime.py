"""Realtime fill: GetRecommendations per user on worker threads, rate-limited, retried, behind a breaker."""

from __future__ import annotations

import itertools
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
from shared.recommend.writer import FeedWriter

_log = get_logger("recommend")

MAX_WAITING = 500
"""Answers held for the catalogue at most: then the run waits for it. The catalogue is read on a thread of its
own, which the worker threads starve of the GIL; unbounded, a 10,000-user run (BENCHMARKS, Feeds) read it
while all the calls were made and built every feed after them, the writes no longer overlapping the calls."""


def fill_realtime(run: FeedRun, users: Sequence[str], writer: FeedWriter, loading: Loading | None = None) -> None:
    """Recommend to each user and hand their feed to ``writer``; failures go to ``run.failures``.

    ``config.concurrency`` worker threads each take the next user, call, build the feed and hand it on: no
    future per user and no hand-off to a collecting thread, whose cost is CPU of the same interpreter as
    the calls (docs/BENCHMARKS.md, Feeds, "One loop per worker thread"). With ``loading`` (the catalogue
    and ranking being read), the calls start at once: answers that come before it has finished wait,
    unbuilt, and are built when it has (its ranking becomes ``run.ranking``).
    """
    deps, config = run.deps, run.deps.config
    assert run.campaign is not None
    campaign_arn, n = run.campaign.campaign_arn, request_size(deps.personalize.num_results)
    limiter = RateLimiter(config.campaign_tps)  # real time: the campaign's TPS is a real-time quota
    breaker = Breaker(config.breaker_failures)
    ready = threading.Event()
    held = threading.Lock()  # the answers waiting for the catalogue, and the run's failure counts
    waiting: list[tuple[str, Recommendations]] = []
    progress = Progress(len(users), run.summary.run_id, deps.monotonic)

    def build_waiting() -> None:
        """With ``held``: the catalogue's result (waited for), then every waiting answer's feed."""
        if loading is not None:
            run.ranking = loading.result()
        ready.set()
        for uid, ranked in waiting:
            writer.add(run.personalized(uid, ranked))
        waiting.clear()

    if loading is None or loading.done():
        build_waiting()

    def recommend(uid: str) -> Recommendations | StoryrecError:
        if breaker.open:
            return breaker.refusal()

        def call() -> Recommendations:
            limiter.acquire()
            return deps.recommender.get_recommendations(campaign_arn, uid, n, run.filter_arn, run.filter_values)

        try:
            ranked = with_retries(call, config, deps.sleep)
        except StoryrecError as exc:
            breaker.record(exc)
            return exc
        breaker.record(None)
        return ranked

    def settle(uid: str, result: Recommendations | StoryrecError) -> None:
        """A failure to the run's counts, an answer to the writer as a feed, or to wait for the catalogue."""
        if isinstance(result, StoryrecError):
            code = error_code(result)
            with held:
                run.failures[uid] = str(result)
                run.summary.errors[code] = run.summary.errors.get(code, 0) + 1
            return
        if not ready.is_set():
            with held:
                if not ready.is_set():
                    waiting.append((uid, result))
                    if (loading is not None and loading.done()) or len(waiting) >= MAX_WAITING:
                        build_waiting()  # past MAX_WAITING this waits for the catalogue (see MAX_WAITING)
                    return
        writer.add(run.personalized(uid, result))  # built on this worker thread

    next_user = itertools.count()  # next() of a count is one step of C code: atomic under the GIL
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set() and (i := next(next_user)) < len(users):
                settle(users[i], recommend(users[i]))
                progress.tick()
        except BaseException:
            stop.set()  # the other workers stop after their current user; the error reaches the caller
            raise

    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="feed") as pool:
        workers = [pool.submit(work) for _ in range(min(config.concurrency, len(users)))]
        for worker in workers:
            worker.result()
    if not ready.is_set():
        with held:
            build_waiting()


class Progress:
    """Logs the run's progress every tenth of its users (ticked from any thread)."""

    def __init__(self, total: int, run_id: str, monotonic: Callable[[], float]) -> None:
        self._total, self._run_id = total, run_id
        self._done = itertools.count(1)
        self._step = max(1, total // 10)
        self._monotonic = monotonic
        self._started = monotonic()

    def tick(self) -> None:
        done = next(self._done)
        if done % self._step == 0 or done == self._total:
            elapsed = self._monotonic() - self._started
            _log.info(
                "feed fill progress",
                extra={
                    "run_id": self._run_id,
                    "done": done,
                    "total": self._total,
                    "users_per_second": round(done / max(elapsed, 1e-9), 1),
                },
            )
