"""One contract per port, run against the emulator-backed adapter and the in-memory fake alike."""

from __future__ import annotations

import functools
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.cloudwatch import CloudWatchMetrics
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingNotifier
from shared.adapters.sns import SnsNotifier
from shared.errors import InvalidRequest, NotFound
from shared.ports import MAX_DOCUMENT_BYTES, ArrayUnion, DocumentStore, NewerWrite, ObjectStore, Query, Where, Write
from shared.wiring import aws_client


@pytest.fixture(params=["firestore", "memory"])
def store(request: pytest.FixtureRequest) -> DocumentStore:
    if request.param == "memory":
        return InMemoryDocumentStore()
    return request.getfixturevalue("doc_store")  # type: ignore[no-any-return]


@pytest.fixture(params=["s3", "gcs", "memory"])
def objects(request: pytest.FixtureRequest) -> ObjectStore:
    if request.param == "memory":
        return InMemoryObjectStore()
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


pytestmark = pytest.mark.integration


def test_document_get_set_merge_delete(store: DocumentStore) -> None:
    assert store.get("stories/a") is None
    store.set("stories/a", {"title": "One", "tags": ["x", "y"]})
    store.set("stories/a", {"lang": "en"}, merge=True)
    assert store.get("stories/a") == {"title": "One", "tags": ["x", "y"], "lang": "en"}
    store.set("stories/a", {"lang": "pt"})
    assert store.get("stories/a") == {"lang": "pt"}
    store.delete("stories/a")
    assert store.get("stories/a") is None


def test_document_create_is_write_once(store: DocumentStore) -> None:
    assert store.create("ml_interactions/c1", {"n": 1}) is True
    assert store.create("ml_interactions/c1", {"n": 2}) is False
    assert store.get("ml_interactions/c1") == {"n": 1}


def test_array_union_adds_each_value_once_in_any_order(store: DocumentStore) -> None:
    store.set("r/u", {"a": ArrayUnion(("x", "y"))}, merge=True)
    store.set("r/u", {"a": ArrayUnion(("y", "z")), "b": 1}, merge=True)
    store.write_batch([Write("r/u", data={"a": ArrayUnion(("x", "w"))}, merge=True)])
    assert store.get("r/u") == {"a": ["x", "y", "z", "w"], "b": 1}
    with pytest.raises(InvalidRequest):
        store.set("r/u", {"a": ArrayUnion(())}, merge=True)


def test_create_with_other_writes_is_one_commit(store: DocumentStore) -> None:
    agg = Write("r/u", data={"a": ArrayUnion(("x",))}, merge=True)
    assert store.create("i/1", {"n": 1}, also=(agg,)) is True
    assert store.get("r/u") == {"a": ["x"]}
    # the document exists: nothing of the commit is applied
    assert store.create("i/1", {"n": 2}, also=(Write("r/u", data={"a": ArrayUnion(("y",))}, merge=True),)) is False
    assert store.get("r/u") == {"a": ["x"]} and store.get("i/1") == {"n": 1}
    # a write of the commit over 1 MiB: refused whole, the create included
    big = Write("r/u", data={"a": ArrayUnion(("z" * MAX_DOCUMENT_BYTES,))}, merge=True)
    with pytest.raises(InvalidRequest):
        store.create("i/2", {"n": 3}, also=(big,))
    assert store.get("i/2") is None and store.get("r/u") == {"a": ["x"]}


def test_batch_of_more_than_500_writes(store: DocumentStore) -> None:
    writes = [Write(f"items/{i:04d}", data={"i": i, "even": i % 2 == 0}) for i in range(1203)]
    assert store.write_batch(writes) == 1203
    assert store.get("items/1202") == {"i": 1202, "even": True}
    store.write_batch([Write("items/0000", kind="delete")])
    assert store.get("items/0000") is None


def test_query_filters_orders_and_pages(store: DocumentStore) -> None:
    store.write_batch(
        [Write(f"clicks/k{i:03d}", data={"t": i // 3, "type": "open" if i % 2 else "like"}) for i in range(60)]
    )
    page = store.query(Query("clicks", (Where("type", "==", "open"),), ("t",), limit=5))
    assert [s.id for s in page] == ["k001", "k003", "k005", "k007", "k009"]
    last = page[-1]
    nxt = store.query(
        Query("clicks", (Where("type", "==", "open"),), ("t",), limit=3, start_after=(last.data["t"], last.id))
    )
    assert [s.id for s in nxt] == ["k011", "k013", "k015"]
    ranged = store.query(Query("clicks", (Where("t", ">=", 18), Where("t", "<", 19)), ("t",)))
    assert [s.id for s in ranged] == ["k054", "k055", "k056"]
    assert [s.id for s in store.query(Query("clicks", (Where("type", "in", ["like"]),), limit=2))] == ["k000", "k002"]


def test_stream_reads_every_document_across_pages(store: DocumentStore) -> None:
    store.write_batch([Write(f"ml_items/s{i:04d}", data={"n": i}) for i in range(1234)])
    ids = [s.id for s in store.stream(Query("ml_items", order_by=("n",)), page_size=100)]
    assert ids == [f"s{i:04d}" for i in range(1234)]
    limited = list(store.stream(Query("ml_items", order_by=("n",), limit=250), page_size=100))
    assert len(limited) == 250


def test_subcollection_paths(store: DocumentStore) -> None:
    store.set("feeds/u1/items/a", {"rank": 1})
    store.set("feeds/u2/items/b", {"rank": 1})
    assert [s.path for s in store.query(Query("feeds/u1/items"))] == ["feeds/u1/items/a"]


V1, V2, V3 = (datetime(2026, 11, 29, 10, m, tzinfo=UTC) for m in (1, 2, 3))


def test_put_versioned_never_lets_an_older_version_win(store: DocumentStore) -> None:
    put = functools.partial(store.put_versioned, version_field="v", stamps={"stamped": "now"})
    assert put("ml_items/a", {"n": 2, "v": V2}) == "written"
    assert put("ml_items/a", {"n": 2, "v": V2}) == "unchanged"  # stamps are not content
    assert put("ml_items/a", {"n": 1, "v": V1}) == "stale"
    assert store.get("ml_items/a") == {"n": 2, "v": V2, "stamped": "now"}
    assert put("ml_items/a", {"active": False, "v": V3}) == "written"  # replaces, does not merge
    assert store.get("ml_items/a") == {"active": False, "v": V3, "stamped": "now"}
    assert put("ml_items/a", {"n": 2, "v": V2}) == "stale"
    assert put("ml_items/a", {"n": 9, "v": V3}) == "written"  # same version, other content: repaired


def test_put_versioned_races_end_at_the_newest(store: DocumentStore) -> None:
    versions = [V1 + timedelta(milliseconds=i) for i in range(16)]
    order = random.Random(3).sample(versions, len(versions))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda v: store.put_versioned(
                    "ml_users/u", {"v": v, "i": versions.index(v)}, version_field="v", stamps={}
                ),
                order,
            )
        )
    assert store.get("ml_users/u") == {"v": versions[-1], "i": 15}


def test_snapshots_carry_the_update_time(store: DocumentStore) -> None:
    store.set("stories/a", {"n": 1})
    [snap] = list(store.stream(Query("stories")))
    assert isinstance(snap.update_time, datetime) and snap.update_time.tzinfo is not None


@pytest.mark.parametrize("path", ["stories/a/comments", "stories//a", "stories"])
def test_a_malformed_path_is_an_invalid_request(store: DocumentStore, path: str) -> None:
    with pytest.raises(InvalidRequest):
        store.get(path)
    with pytest.raises(InvalidRequest):
        store.set(path, {"n": 1})


def test_objects_roundtrip_list_head_delete(objects: ObjectStore, tmp_path: Any) -> None:
    text = b'ITEM_ID,SUMMARY\n1,"a, ""quoted""\nline"\n'
    objects.put_bytes("items/dt=2026-11-29/part-00000.csv", text, content_type="text/csv")
    assert objects.get_bytes("items/dt=2026-11-29/part-00000.csv") == text
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024 + 5))  # above the multipart/resumable chunk size
    objects.put_file("interactions/dt=2026-11-29/part-00000.csv", str(big))
    assert objects.get_bytes("interactions/dt=2026-11-29/part-00000.csv") == big.read_bytes()
    info = objects.head("interactions/dt=2026-11-29/part-00000.csv")
    assert info is not None and info.size == big.stat().st_size
    assert objects.head("missing") is None
    assert [o.key for o in objects.list("items/")] == ["items/dt=2026-11-29/part-00000.csv"]
    objects.delete("items/dt=2026-11-29/part-00000.csv")
    assert objects.list("items/") == []
    with pytest.raises(NotFound):
        objects.get_bytes("items/dt=2026-11-29/part-00000.csv")


def test_sns_notifier_delivers_to_subscribers(settings: Any, sns_topic: Any) -> None:
    notifier = SnsNotifier(aws_client("sns", settings), sns_topic.topic_arn)
    message_id = notifier.notify("export failed\non 2026-11-29", "step=upload reason=boom", {"step": "upload"})
    [envelope] = sns_topic.messages(expect=1)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"] == "export failed on 2026-11-29"
    assert envelope["Message"] == "step=upload reason=boom"
    assert envelope["MessageAttributes"]["step"]["Value"] == "upload"


def test_recording_notifier_matches_port() -> None:
    notifier = RecordingNotifier()
    assert notifier.notify("s", "m") == "memory-1"
    assert notifier.sent == [("s", "m", {})]


def test_cloudwatch_metrics_are_queryable(settings: Any) -> None:
    client = aws_client("cloudwatch", settings)
    namespace = f"storyrec-test-{os.urandom(4).hex()}"
    metrics = CloudWatchMetrics(client, namespace)
    for _ in range(3):
        metrics.put("ClickAccepted", dimensions={"type": "open"})
    metrics.flush()
    now = datetime.now(UTC)
    stats = client.get_metric_statistics(
        Namespace=namespace,
        MetricName="ClickAccepted",
        Dimensions=[{"Name": "type", "Value": "open"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 3


def test_pubsub_emulator_publish_and_pull(settings: Any) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    suffix = os.urandom(4).hex()
    topic = publisher.topic_path(settings.gcp_project, f"firebase-schedule-export-{suffix}")
    sub = subscriber.subscription_path(settings.gcp_project, f"probe-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    publisher.publish(topic, b"{}", origin="test").result(timeout=30)
    response = subscriber.pull(subscription=sub, max_messages=1, timeout=30)
    [received] = response.received_messages
    assert received.message.attributes["origin"] == "test"
    subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])


def newer(path: str, version: datetime, **data: Any) -> NewerWrite:
    return NewerWrite(path, {"v": version, **data}, version)


def test_write_newer_writes_only_over_an_absent_or_older_document(store: DocumentStore) -> None:
    write = functools.partial(store.write_newer, version_field="v")
    assert write([newer("feeds/a", V2, n=2, old="x")]) == ["written"]
    assert write([newer("feeds/a", V1, n=1)]) == ["kept"]  # an older run arriving late
    assert write([newer("feeds/a", V2, n=9)]) == ["kept"]  # the same version again: a no-op
    assert store.get("feeds/a") == {"v": V2, "n": 2, "old": "x"}
    assert write([newer("feeds/a", V3, n=3)]) == ["written"]  # replaces, does not merge
    assert store.get("feeds/a") == {"v": V3, "n": 3}


def test_write_newer_merges_only_into_an_older_document(store: DocumentStore) -> None:
    write = functools.partial(store.write_newer, version_field="v")
    write([newer("feeds/a", V2, n=2)])
    mark = {"stale": True}
    assert write([NewerWrite("feeds/a", mark, V2, merge=True)]) == ["kept"]  # a run as new wrote it: not stale
    assert write([NewerWrite("feeds/a", mark, V3, merge=True)]) == ["written"]
    assert store.get("feeds/a") == {"v": V2, "n": 2, "stale": True}  # the version stays the stored one
    assert write([NewerWrite("feeds/b", mark, V3, merge=True)]) == ["absent"]
    assert store.get("feeds/b") is None


def test_write_newer_repairs_a_document_without_a_usable_version(store: DocumentStore) -> None:
    store.set("feeds/a", {"v": "2099-01-01"})
    store.set("feeds/b", {"n": 1})
    assert store.write_newer([newer("feeds/a", V1), newer("feeds/b", V1)], version_field="v") == ["written"] * 2
    assert store.get("feeds/a") == {"v": V1}


def test_write_newer_many_documents_and_one_path_twice(store: DocumentStore) -> None:
    store.write_newer([newer(f"feeds/u{i:04d}", V2, i=i) for i in range(0, 1203, 2)], version_field="v")
    writes = [newer(f"feeds/u{i:04d}", V1 if i % 4 == 0 else V3, i=-i) for i in range(1203)]
    writes += [newer("feeds/u0001", V2, i=1), newer("feeds/u0001", V3 + timedelta(seconds=1), i=2)]
    outcomes = store.write_newer(writes, version_field="v")
    assert outcomes[:4] == ["kept", "written", "written", "written"]
    assert outcomes[-2:] == ["kept", "written"]  # V2 lost to V3 written before it in the same call
    assert outcomes.count("kept") == 301 + 1
    assert store.get("feeds/u0000") == {"v": V2, "i": 0}
    assert store.get("feeds/u0002") == {"v": V3, "i": -2}
    assert store.get("feeds/u0001") == {"v": V3 + timedelta(seconds=1), "i": 2}


def test_write_newer_racing_writers_end_at_the_newest(store: DocumentStore) -> None:
    """Eight writers, each sending every document's versions in its own random order, batch by batch."""
    paths = [f"feeds/r{i:02d}" for i in range(40)]
    versions = [V1 + timedelta(milliseconds=m) for m in range(8)]

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        version = versions[seed]
        writes = [newer(p, version, by=seed) for p in rng.sample(paths, len(paths))]
        for start in range(0, len(writes), 7):
            store.write_newer(writes[start : start + 7], version_field="v")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(writer, random.Random(5).sample(range(8), 8)))
    for path in paths:
        assert store.get(path) == {"v": versions[-1], "by": 7}, path


def test_write_newer_stores_every_value_type_as_set_does(store: DocumentStore) -> None:
    data = {
        "v": V2,
        "none": None,
        "flag": True,
        "n": -(2**40),
        "x": 0.25,
        "text": "é\n\x01" + "a" * 2000,
        "raw": b"\x00\xff",
        "when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "list": [1, "two", None, {"three": [3.0]}],
        "map": {"a.b": {"c": False}, "d": 1},
        "empty map": {},
        "empty list": [],
        "empties inside": {"m": {}, "l": [{}]},
    }
    store.write_newer([NewerWrite("feeds/t", data, V2)], version_field="v")
    store.set("feeds/s", data)
    assert store.get("feeds/t") == store.get("feeds/s") == data
    assert store.get_many(["feeds/t", "feeds/s"]) == [data, data]  # decoded as get decodes, every type


def test_get_many_reads_in_order_with_none_for_the_absent(store: DocumentStore) -> None:
    store.write_batch([Write(f"stories/s{i:04d}", data={"i": i}) for i in range(0, 1203, 2)])
    paths = [f"stories/s{i:04d}" for i in range(1203)] + ["stories/s0000"]
    found = store.get_many(paths)
    assert found[:3] == [{"i": 0}, None, {"i": 2}] and found[-1] == {"i": 0} and len(found) == 1204
    assert sum(d is not None for d in found) == 602 + 1


def test_a_field_mask_reads_only_the_fields_asked(store: DocumentStore) -> None:
    """``fields`` on get_many, query and stream: a projection; filters and order still see whole documents."""
    store.write_batch(
        [
            Write("stories/a", data={"title": "A", "body": "x" * 5000, "t": 2, "status": "published", "a.b": 1}),
            Write("stories/b", data={"body": "y", "t": 1}),
            Write("stories/c", data={"title": "C", "status": "draft"}),  # no "t": outside an order by "t"
        ]
    )
    paths = ["stories/a", "stories/b", "stories/x"]
    assert store.get_many(paths, fields=("title", "status", "a.b")) == [
        {"title": "A", "status": "published", "a.b": 1},
        {},
        None,
    ]
    assert store.get_many(paths, fields=()) == [{}, {}, None]
    ordered = Query("stories", (Where("t", ">=", 1),), ("t",), fields=("title",))
    expected = [("b", {}), ("a", {"title": "A"})]
    assert [(s.id, s.data) for s in store.query(ordered)] == expected
    assert [(s.id, s.data) for s in store.stream(ordered)] == expected
    filtered = Query("stories", (Where("status", "==", "published"),), fields=("t", "a.b"))
    assert [(s.id, s.data) for s in store.stream(filtered)] == [("a", {"t": 2, "a.b": 1})]
    assert [s.data for s in store.query(Query("stories", limit=2))][1] == {"body": "y", "t": 1}  # no mask: whole


def test_a_projected_stream_that_breaks_goes_on_after_its_last_document(
    doc_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream reopens after its last snapshot, whose order-field values make the cursor: the mask keeps
    them (and the snapshots still hold only the fields asked)."""
    from google.api_core import exceptions as gexc

    doc_store.write_batch([Write(f"items/i{i:02d}", data={"t": i % 4, "w": i, "body": "x"}) for i in range(12)])
    run = doc_store._run
    opened: list[int] = []

    def breaking(query: Any, opts: Any) -> Any:
        """The real RunQuery, whose first stream breaks after three documents."""
        opened.append(len(opened))
        for n, snap in enumerate(run(query, opts)):
            if len(opened) == 1 and n == 3:
                raise gexc.DeadlineExceeded("deadline")
            yield snap

    monkeypatch.setattr(doc_store, "_run", breaking)
    found = list(doc_store.stream(Query("items", (Where("t", ">=", 0),), ("t",), fields=("w",))))
    assert [s.data["w"] for s in found] == sorted(range(12), key=lambda i: (i % 4, f"i{i:02d}"))
    assert all(set(s.data) == {"w"} for s in found) and len(opened) == 2


def test_the_firestore_adapters_streams_run_on_the_calling_thread(doc_store: Any) -> None:
    """Every server-streaming read (a query's stream, get_many, the guarded writes' version read) is read by the
    thread that asked, without gRPC's channel-spin thread (shared/adapters/firestore_client.py)."""
    at = datetime(2026, 12, 7, tzinfo=UTC)
    doc_store.write_batch([Write(f"stories/s{k}", data={"n": k}) for k in range(30)])
    before = set(threading.enumerate())
    read, during = [], set()
    for snap in doc_store.stream(Query("stories", order_by=("n",))):
        read.append(snap.data["n"])
        during |= {t.name for t in threading.enumerate() if t not in before}  # gRPC's spin thread, by default
    assert read == list(range(30)) and during == set()
    assert doc_store.get_many(["stories/s1", "stories/none"]) == [{"n": 1}, None]
    assert doc_store.write_newer([NewerWrite("feeds/u", {"generatedAt": at}, at)], version_field="generatedAt") == [
        "written"
    ]
