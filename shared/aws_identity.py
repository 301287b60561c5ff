"""AWS credentials for code running on Google Cloud, without long-lived keys.

The function's service account asks the metadata server for a Google ID token (audience: the one the
IAM role's trust policy expects), and STS exchanges it for temporary credentials of the role of the
function's family (AssumeRoleWithWebIdentity; each role trusts ``accounts.google.com`` for its family's
service account only, see serverless.yml ``GcpExportRole``, ``GcpFeedsRole``, ``GcpRefreshRole``; the
role is picked in shared/config.py). botocore refreshes them before they expire: each refresh fetches
a fresh ID token (they live one hour) and assumes the role again.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials
from google.auth import exceptions as auth_exc
from google.auth.compute_engine import IDTokenCredentials
from google.auth.transport import Request, Response
from google.auth.transport.requests import Request as HttpRequest

from shared.errors import ServiceUnavailable

SESSION_SECONDS = 3600


class _MetadataHostRequest(Request):
    """google-auth's HTTP transport, with the metadata server's host taken from the settings.

    google-auth reads ``GCE_METADATA_HOST`` once, when it is imported; the settings read it per process
    (and tests point it at a loopback server), so the host of the library's own URL is replaced here.
    """

    def __init__(self, host: str, timeout: float) -> None:
        self._host = host
        self._timeout = timeout
        self._http = HttpRequest()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Response:
        url = urllib.parse.urlsplit(url)._replace(netloc=self._host).geturl()
        response: Response = self._http(url, method=method, body=body, headers=headers, timeout=self._timeout, **kwargs)
        return response


def metadata_id_token(metadata_host: str, audience: str, timeout: float = 5.0) -> str:
    """A Google ID token for the default service account, from the metadata server (``GCE_METADATA_HOST``)."""
    # no request here: the email look-up it would make is not needed for the identity endpoint
    credentials = IDTokenCredentials(None, audience, use_metadata_identity_endpoint=True)  # type: ignore[no-untyped-call]
    try:
        credentials.refresh(_MetadataHostRequest(metadata_host, timeout))  # type: ignore[no-untyped-call]
    except (auth_exc.GoogleAuthError, OSError) as exc:
        raise ServiceUnavailable(f"metadata server {metadata_host} gave no ID token: {exc}") from exc
    except (ValueError, KeyError) as exc:  # the answer did not decode as a JWT with an expiry
        raise ServiceUnavailable(f"metadata server {metadata_host} answered something that is not a JWT") from exc
    return str(credentials.token)


class GoogleWebIdentityProvider(CredentialProvider):
    """A botocore credential provider: Google ID token → AssumeRoleWithWebIdentity, refreshed before expiry."""

    METHOD = "google-web-identity"
    CANONICAL_NAME = "GoogleWebIdentity"

    def __init__(
        self,
        role_arn: str,
        session_name: str,
        fetch_token: Callable[[], str],
        sts_client: Callable[[], Any],
        duration: int = SESSION_SECONDS,
    ) -> None:
        super().__init__()
        self._role_arn = role_arn
        self._session_name = session_name
        self._fetch_token = fetch_token
        self._sts_client = sts_client
        self._duration = duration

    def _refresh(self) -> dict[str, str]:
        response = self._sts_client().assume_role_with_web_identity(
            RoleArn=self._role_arn,
            RoleSessionName=self._session_name,
            WebIdentityToken=self._fetch_token(),
            DurationSeconds=self._duration,
        )
        creds = response["Credentials"]
        expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(refresh_using=self._refresh, method=self.METHOD)


def federated_session(
    role_arn: str, audience: str, metadata_host: str, region: str, session_name: str = "storyrec-gcp"
) -> Any:
    """A boto3 Session whose credentials come only from the Google identity (no env keys, no files)."""
    import boto3
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config

    def sts() -> Any:  # AssumeRoleWithWebIdentity is not signed: the token is the proof
        return boto3.client("sts", region_name=region, config=Config(signature_version=UNSIGNED))

    provider = GoogleWebIdentityProvider(
        role_arn, session_name, lambda: metadata_id_token(metadata_host, audience), sts
    )
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    resolver.providers = [provider]  # this identity or nothing: never fall back to other credentials
    return boto3.Session(botocore_session=core, region_name=region)
