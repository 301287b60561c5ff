"""The project's Firestore client: the SDK's, with its server-streaming reads run on the calling thread.

RunQuery and BatchGetDocuments (every stream, ``get_many`` and the guarded writes' version read) answer one
message per document. gRPC Python's default unary-stream call hands each message from a channel-spin thread to
the caller through a condition variable; with ``SingleThreadedUnaryStream`` (a channel option gRPC reads itself,
not passed to its core) the caller reads them directly. Measured in the feed fill on the emulator
(docs/BENCHMARKS.md, Feeds, "The fill's tail and the streams on the calling thread"): half the client CPU of a
guarded feed write, a third of the catalogue read's. The SDK builds its channel inside the client, so the option
is added where it does: the transport's documented ``create_channel`` and, for the emulator, the client's own
``_emulator_channel`` (the SDK's synchronous branch, plus the option).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud import firestore
from google.cloud.firestore_v1 import base_client
from google.cloud.firestore_v1.services.firestore import client as gapic_client
from google.cloud.firestore_v1.services.firestore.transports.grpc import FirestoreGrpcTransport

STREAMS_ON_CALLING_THREAD = (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)


class _Transport(FirestoreGrpcTransport):
    @classmethod
    def create_channel(cls, *args: Any, **kwargs: Any) -> grpc.Channel:
        kwargs["options"] = [*(kwargs.get("options") or ()), STREAMS_ON_CALLING_THREAD]
        return super().create_channel(*args, **kwargs)


class Client(firestore.Client):
    """``google.cloud.firestore.Client`` whose unary-stream calls run on the thread that iterates them (each
    stream is read by one thread, as every caller in this project does)."""

    @property
    def _firestore_api(self) -> Any:
        return self._firestore_api_helper(_Transport, gapic_client.FirestoreClient, gapic_client)

    def _emulator_channel(self, transport: Any) -> grpc.Channel:
        token = getattr(self._credentials, "id_token", None) or "owner"  # as the SDK: a custom token's, if any
        options = [("Authorization", f"Bearer {token}"), *base_client._GRPC_MSG_SIZE_OPTIONS]
        return grpc.insecure_channel(self._emulator_host, options=[*options, STREAMS_ON_CALLING_THREAD])
