"""The project's Firestore client opens its channel with streams read on the calling thread, in production and
against the emulator (the emulator's behaviour is proven in tests/integration/test_contracts.py)."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials

from shared.adapters.firestore_client import Client

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("emulator", [None, "127.0.0.1:1"])
def test_the_channel_reads_streams_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch, emulator: str | None) -> None:
    if emulator is None:
        monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    else:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator)
    client = Client(project="demo-storyrec", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    channel = client._firestore_api._transport.grpc_channel  # no call is made: nothing connects
    assert channel._single_threaded_unary_stream is True
    assert (client._emulator_host is not None) == (emulator is not None)
