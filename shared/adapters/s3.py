"""ObjectStore over an injected boto3 S3 client (moto server locally via AWS_ENDPOINT_URL_S3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.errors import NotFound, ServiceUnavailable
from shared.ports import ObjectInfo
from shared.retry import Backoff, retry_call

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MULTIPART_THRESHOLD = 16 * 1024 * 1024


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _CreateRaced(ServiceUnavailable):
    """S3 answered 409 ConditionalRequestConflict: another create of the key is in flight; ask again."""


class S3ObjectStore:
    """One S3 bucket. ``put_file`` uses boto3's managed transfer (multipart above 16 MiB)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def _call(self, fn: Any, /, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (BotoConnectionError, HTTPClientError) as exc:
            raise ServiceUnavailable(f"S3 unreachable for bucket {self.bucket}: {exc}") from exc

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self._call(self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """PutObject with ``If-None-Match: *``: 412 means the key exists (False); a 409 (a racing create
        still in flight) is asked again until one of the two answers."""

        def put() -> bool:
            try:
                self._call(
                    self._client.put_object,
                    Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*",
                )
            except ClientError as exc:
                if _code(exc) in {"PreconditionFailed", "412"}:
                    return False
                if _code(exc) in {"ConditionalRequestConflict", "409"}:
                    raise _CreateRaced(f"s3://{self.bucket}/{key}: {exc}") from exc
                raise
            return True

        return retry_call(put, attempts=5, backoff=Backoff(initial=0.05, cap=1.0, jitter=True))

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
        self._call(
            self._client.upload_file,
            Filename=path, Bucket=self.bucket, Key=key,
            ExtraArgs={"ContentType": content_type}, Config=config,
        )

    def get_bytes(self, key: str) -> bytes:
        try:
            body = self._call(self._client.get_object, Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise NotFound(f"s3://{self.bucket}/{key}") from exc
            raise
        return body.read()  # type: ignore[no-any-return]

    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return ObjectInfo(key=key, size=int(meta["ContentLength"]), etag=str(meta.get("ETag", "")).strip('"'))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        out: list[ObjectInfo] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                out.extend(
                    ObjectInfo(key=o["Key"], size=int(o["Size"]), etag=str(o.get("ETag", "")).strip('"'))
                    for o in page.get("Contents", [])
                )
        except (BotoConnectionError, HTTPClientError) as exc:
            raise ServiceUnavailable(f"S3 unreachable for bucket {self.bucket}: {exc}") from exc
        return out

    def delete(self, key: str) -> None:
        self._call(self._client.delete_object, Bucket=self.bucket, Key=key)
