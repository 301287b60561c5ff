"""The Firebase emulator suite under the process manager: Pub/Sub on request, and nothing left running after."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local import processes
from infra.local.firebase import emulators

pytestmark = pytest.mark.e2e


def _processes_with_home(home: Path) -> list[int]:
    """Live processes started with HOME=home (the suite sets it for its whole tree)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ident = processes.identity(int(entry.name))
        if f"HOME={home}".encode() in environ and ident is not None and not ident.zombie:
            found.append(int(entry.name))
    return found


def test_suite_with_pubsub_answers_and_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    try:
        tools_env = emulators.setup()
        emulators.bundle()
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)
    work = tmp_path / "suite"
    with emulators.firebase_suite(work, tools_env, functions=3, pubsub=True) as suite:
        assert suite.pubsub_host is not None and suite.env["PUBSUB_EMULATOR_HOST"] == suite.pubsub_host
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", suite.pubsub_host)
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(emulators.PROJECT, "suite-check")
        subscription = subscriber.subscription_path(emulators.PROJECT, "suite-check")
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)
        publisher.publish(topic, b"ping").result(timeout=30)
        pulled = subscriber.pull(subscription=subscription, max_messages=1, timeout=30)
        assert [m.message.data for m in pulled.received_messages] == [b"ping"]
        running = _processes_with_home(work / "home")
        assert len(running) >= 2  # firebase-tools and its emulators' java
        subscriber.close()
    assert [pid for pid in running if pid in _processes_with_home(work / "home")] == []
