"""What makes the simulation fast without changing what it does: the pinned clock, the deferred impressions
and clicks sent side by side, the incremental capture check and the down-service timeouts."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from infra.local.readers import MODELS
from infra.local.simulate import invariants as inv
from infra.local.simulate.clock import VirtualClock
from infra.local.simulate.pipeline import endpoint_down
from infra.local.simulate.readers import ReaderModel
from infra.local.simulate.world import World, WorldParams
from shared.capture.records import Writer
from shared.capture.service import Outcome
from shared.config import Settings

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 1, 7, tzinfo=UTC)
ENV = {"GOOGLE_CLOUD_PROJECT": "p"}


def test_a_pinned_time_is_this_threads_alone_and_never_ahead_of_the_clock() -> None:
    clock = VirtualClock(T0 + timedelta(hours=16))
    seen: list[datetime] = []
    with clock.pinned(T0 + timedelta(hours=1)):
        other = threading.Thread(target=lambda: seen.append(clock()))
        other.start()
        other.join()
        assert clock() == T0 + timedelta(hours=1)
    assert seen == [T0 + timedelta(hours=16)] and clock() == T0 + timedelta(hours=16)
    with pytest.raises(ValueError, match="never ahead"), clock.pinned(T0 + timedelta(hours=17)):
        pass
    assert clock() == T0 + timedelta(hours=16)


class FakeDocs:
    """The Admin SDK's ``document(path).set(data)``, recording each write."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.lock = threading.Lock()

    def document(self, path: str) -> Any:
        docs = self

        class Ref:
            def set(self, data: dict[str, Any]) -> None:
                with docs.lock:
                    docs.written.append(path)

        return Ref()


class FakeCapture:
    """Records, per writer, the click ids and the clock each capture saw; a bad type is quarantined."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.seen: dict[str, list[tuple[str, datetime]]] = {}
        self.lock = threading.Lock()

    def capture_click(self, click_id: str, data: dict[str, Any], *, writer: Writer) -> Outcome:
        time.sleep(0.001)  # let the workers interleave
        with self.lock:
            self.seen.setdefault(writer.auth_id, []).append((click_id, self.clock()))
        return Outcome.QUARANTINED if data["type"] == "teleport" else Outcome.CAPTURED

    def capture_impression(self, impression_id: str, data: dict[str, Any], *, writer: Writer) -> Outcome:
        time.sleep(0.001)
        with self.lock:
            self.seen.setdefault(writer.auth_id, []).append((impression_id, self.clock()))
        return Outcome.DUPLICATE if impression_id.endswith("3") else Outcome.CAPTURED


def _world(clock: VirtualClock) -> tuple[World, FakeDocs, FakeCapture]:
    docs, capture = FakeDocs(), FakeCapture(clock)
    model = ReaderModel(MODELS["stable"], np.random.default_rng(1))
    world = World(
        Settings.from_env(ENV),
        model,
        WorldParams(),
        np.random.default_rng(0),
        docs,
        capture,
        clock,  # type: ignore[arg-type]
    )
    return world, docs, capture


def test_deferred_clicks_are_captured_at_their_own_times_in_each_writers_order_with_their_outcomes() -> None:
    clock = VirtualClock(T0)
    world, docs, capture = _world(clock)
    world.deferred = []
    expected: dict[str, list[tuple[str, datetime]]] = {}
    for minute in range(40):
        clock.set(T0 + timedelta(minutes=minute))
        uid = f"r{minute % 5}"
        sent = world.write_click(uid, f"s{minute}", "teleport" if minute == 7 else "open")
        assert sent.outcome == ""  # not sent yet
        expected.setdefault(uid, []).append((sent.click_id, clock()))
    assert docs.written == [] and capture.seen == {}
    clock.set(T0 + timedelta(hours=16))
    world.send_deferred(clock.pinned, workers=4)
    assert capture.seen == expected  # each writer's clicks in order, each at its createdAt
    assert len(docs.written) == 40 and world.deferred is None
    assert [c.outcome for c in world.clicks] == ["quarantined" if i == 7 else "captured" for i in range(40)]
    assert clock() == T0 + timedelta(hours=16)


def test_deferred_impressions_are_captured_before_their_visits_clicks_with_their_outcomes() -> None:
    from infra.local.simulate.world import FeedView

    clock = VirtualClock(T0)
    world, docs, capture = _world(clock)
    world.deferred = []
    expected: dict[str, list[tuple[str, datetime]]] = {}
    for minute in range(12):
        clock.set(T0 + timedelta(minutes=minute))
        uid = f"r{minute % 3}"
        imp = world.write_impression(uid, [f"s{minute}", f"s{minute + 1}"], FeedView("latest"))
        click = world.write_click(uid, f"s{minute}", "open")
        assert imp.outcome == "" and click.outcome == ""
        expected.setdefault(uid, []).extend([(imp.impression_id, clock()), (click.click_id, clock())])
    assert docs.written == []
    clock.set(T0 + timedelta(hours=16))
    world.send_deferred(clock.pinned, workers=3)
    assert capture.seen == expected  # a visit's impression before its click, each reader's in order
    assert len(docs.written) == 24 and world.deferred is None
    assert [i.outcome for i in world.impressions] == [
        "duplicate" if i.impression_id.endswith("3") else "captured" for i in world.impressions
    ]
    assert [c.outcome for c in world.clicks] == ["captured"] * 12


def test_without_deferral_a_click_is_sent_at_once() -> None:
    clock = VirtualClock(T0)
    world, docs, capture = _world(clock)
    sent = world.write_click("r1", "s1", "open")
    assert sent.outcome == "captured" and docs.written == [f"clicks/{sent.click_id}"]
    assert capture.seen == {"r1": [(sent.click_id, T0)]}


class GetAll:
    """``collection(name).document(id)`` and ``get_all(refs)`` over a set of existing ids."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.asked: list[str] = []

    def collection(self, name: str) -> Any:
        return self

    def document(self, doc_id: str) -> str:
        return doc_id

    def get_all(self, refs: list[str]) -> list[Any]:
        self.asked += refs
        return [type("Snap", (), {"id": r, "exists": r in self.present})() for r in refs]


def test_the_capture_check_reads_only_the_new_clicks_and_still_finds_one_missing() -> None:
    from infra.local.simulate.world import SentClick

    clicks = [SentClick(f"c{i}", "r1", f"s{i}", "open", T0, outcome="captured") for i in range(6)]
    store = GetAll({"c0", "c1", "c2", "c3", "c5"})
    world = type("W", (), {"clicks": clicks, "firestore": store, "settings": Settings.from_env(ENV)})()
    checks = {c.name: c for c in inv.check_capture(world, since=4)}  # type: ignore[arg-type]
    assert store.asked == ["c4", "c5"]
    assert checks["ml_interactions match the ground truth"].status == "violated"
    assert "of the 2 clicks written since the last check" in checks["ml_interactions match the ground truth"].detail
    store.asked.clear()
    full = {c.name: c for c in inv.check_capture(world)}  # type: ignore[arg-type]
    assert len(store.asked) == 6 and full["ml_interactions match the ground truth"].examples == ["c4"]


def test_a_down_google_service_gets_a_short_timeout_only_while_it_is_down() -> None:
    before = {k: os.environ.get(k) for k in ("STORYREC_TIMEOUT_FIRESTORE", "STORYREC_TIMEOUT_GCS")}
    with endpoint_down(("STORAGE_EMULATOR_HOST",), 9):
        s = Settings.from_env({**ENV, **os.environ})
        assert s.timeouts.gcs == 1.0 and os.environ["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9"
        assert os.environ.get("STORYREC_TIMEOUT_FIRESTORE") == before["STORYREC_TIMEOUT_FIRESTORE"]
    with endpoint_down(("AWS_ENDPOINT_URL_PERSONALIZE",), 9):
        assert os.environ.get("STORYREC_TIMEOUT_GCS") == before["STORYREC_TIMEOUT_GCS"]
    assert {k: os.environ.get(k) for k in before} == before


def test_aws_clients_are_reused_per_endpoint_set_and_the_real_factory_comes_back() -> None:
    from infra.local.environ import environment
    from infra.local.simulate.pipeline import reused_aws_clients
    from shared import wiring

    real = wiring.aws_client
    env = {**ENV, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    with environment({**env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}), reused_aws_clients():
        s = Settings.from_env(os.environ)
        first = wiring.aws_client("s3", s)
        assert wiring.import_store(s)._client is first  # the product's wiring gets the same client
        assert wiring.aws_client("sns", s) is not first
        with endpoint_down(("AWS_ENDPOINT_URL_S3",), 9):
            down = wiring.aws_client("s3", Settings.from_env(os.environ))
            assert down is not first and down.meta.endpoint_url == "http://127.0.0.1:9"
        assert wiring.aws_client("s3", s) is first
    assert wiring.aws_client is real


def test_overlapping_lambda_invocations_print_to_the_lambda_log_and_leave_stdout_alone() -> None:
    import contextlib
    import io
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from infra.local.simulate.pipeline import LambdaStdout, invoke

    real, log, barrier = sys.stdout, io.StringIO(), threading.Barrier(2)

    def handler(event: dict[str, Any], context: Any) -> str:
        barrier.wait(timeout=5)  # both invocations inside at once, as overlapping monitor passes are
        print(f"emf {event['n']}")
        return "done"

    with contextlib.redirect_stdout(LambdaStdout(real, log)):
        with ThreadPoolExecutor(2) as pool:
            outs = list(pool.map(lambda n: invoke(log, handler, {"n": n}, "storyrec-monitor"), range(2)))
        assert isinstance(sys.stdout, LambdaStdout)
    assert outs == ["done", "done"] and sys.stdout is real
    assert sorted(log.getvalue().split("\n")[:2]) == ["emf 0", "emf 1"]
