"""ObjectStore over an injected google-cloud-storage client (fake-gcs-server locally)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud.storage.retry import DEFAULT_RETRY

from shared.errors import NotFound, ServiceUnavailable
from shared.ports import ObjectInfo

if TYPE_CHECKING:
    from google.cloud.storage import Client

RESUMABLE_CHUNK = 8 * 1024 * 1024  # must be a multiple of 256 KiB
DEFAULT_TIMEOUT = 60.0
_UNREACHABLE = (gexc.ServiceUnavailable, gexc.RetryError, ConnectionError)


class GCSObjectStore:
    """One GCS bucket. ``put_file`` is a resumable upload in 8 MiB chunks.

    ``timeout`` bounds each request and the retries of each call (the library's default retries
    for two minutes per call).
    """

    def __init__(self, client: Client, bucket: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._client = client
        self.bucket = bucket
        self._bucket = client.bucket(bucket)
        self._opts: dict[str, Any] = {"timeout": timeout, "retry": DEFAULT_RETRY.with_timeout(timeout)}

    def _unreachable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(f"GCS unreachable for bucket {self.bucket}: {exc}")

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        try:
            self._bucket.blob(key).upload_from_string(data, content_type=content_type, **self._opts)
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    def put_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Upload with ``if_generation_match=0``: False if the object already exists."""
        try:
            self._bucket.blob(key).upload_from_string(
                data, content_type=content_type, if_generation_match=0, **self._opts
            )
        except gexc.PreconditionFailed:
            return False
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc
        return True

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        blob = self._bucket.blob(key, chunk_size=RESUMABLE_CHUNK)
        try:
            blob.upload_from_filename(path, content_type=content_type, **self._opts)
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._bucket.blob(key).download_as_bytes(**self._opts)  # type: ignore[no-any-return]
        except gexc.NotFound as exc:
            raise NotFound(f"gs://{self.bucket}/{key}") from exc
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            blob = self._bucket.get_blob(key, **self._opts)
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc
        return None if blob is None else ObjectInfo(key=key, size=int(blob.size or 0), etag=blob.etag)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        try:
            return [
                ObjectInfo(key=b.name, size=int(b.size or 0), etag=b.etag)
                for b in self._client.list_blobs(self.bucket, prefix=prefix or None, **self._opts)
            ]
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._bucket.blob(key).delete(**self._opts)
        except gexc.NotFound:
            return
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc
