"""ObjectStore over an injected google-cloud-storage client (fake-gcs-server locally)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from shared.errors import NotFound, ServiceUnavailable
from shared.ports import ObjectInfo

if TYPE_CHECKING:
    from google.cloud.storage import Client

RESUMABLE_CHUNK = 8 * 1024 * 1024  # must be a multiple of 256 KiB


class GCSObjectStore:
    """One GCS bucket. ``put_file`` is a resumable upload in 8 MiB chunks."""

    def __init__(self, client: Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket
        self._bucket = client.bucket(bucket)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        try:
            self._bucket.blob(key).upload_from_string(data, content_type=content_type)
        except (gexc.ServiceUnavailable, ConnectionError) as exc:
            raise ServiceUnavailable(f"GCS unreachable for bucket {self.bucket}: {exc}") from exc

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        blob = self._bucket.blob(key, chunk_size=RESUMABLE_CHUNK)
        try:
            blob.upload_from_filename(path, content_type=content_type)
        except (gexc.ServiceUnavailable, ConnectionError) as exc:
            raise ServiceUnavailable(f"GCS unreachable for bucket {self.bucket}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._bucket.blob(key).download_as_bytes()  # type: ignore[no-any-return]
        except gexc.NotFound as exc:
            raise NotFound(f"gs://{self.bucket}/{key}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        blob = self._bucket.get_blob(key)
        return None if blob is None else ObjectInfo(key=key, size=int(blob.size or 0), etag=blob.etag)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        return [
            ObjectInfo(key=b.name, size=int(b.size or 0), etag=b.etag)
            for b in self._client.list_blobs(self.bucket, prefix=prefix or None)
        ]

    def delete(self, key: str) -> None:
        try:
            self._bucket.blob(key).delete()
        except gexc.NotFound:
            return
