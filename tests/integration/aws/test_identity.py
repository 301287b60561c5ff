"""Cross-cloud identity: a Google ID token from a loopback metadata server, exchanged at moto's STS."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from shared import wiring
from shared.aws_identity import GoogleWebIdentityProvider, metadata_id_token
from shared.config import Settings
from shared.errors import ServiceUnavailable
from tests.integration.aws.conftest import AwsEnv

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/storyrec-gcp"
AUDIENCE = "sts.amazonaws.com"


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class Metadata:
    """A stand-in for the GCE metadata server's identity endpoint; records each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.requests.append({"path": url.path, "query": query, "flavor": self.headers.get("Metadata-Flavor")})
                if self.headers.get("Metadata-Flavor") != "Google" or not url.path.endswith("/identity"):
                    self.send_response(403)
                    self.end_headers()
                    return
                body = _jwt(
                    {
                        "iss": "https://accounts.google.com",
                        "aud": query.get("audience"),
                        "azp": "110000000000000000001",
                        "sub": "110000000000000000001",
                        "exp": int(time.time()) + 3600,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/text")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    md = Metadata()
    md.thread.start()
    try:
        yield md
    finally:
        md.server.shutdown()
        md.server.server_close()


def _settings(
    aws_env: AwsEnv, metadata_host: str, monkeypatch: pytest.MonkeyPatch, roles: dict[str, str] | None = None
) -> Settings:
    # on GCP there are no AWS keys in the environment: the Google identity is the only credential
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    return Settings.from_env(
        {
            **aws_env.env,
            "STORYREC_GCP_PROJECT": "p",
            **(roles if roles is not None else {"STORYREC_AWS_ROLE_ARN": ROLE}),
            "GCE_METADATA_HOST": metadata_host,
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
        }
    )


def test_aws_clients_on_gcp_assume_the_role_with_the_metadata_servers_id_token(
    aws_env: AwsEnv, metadata: Metadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(aws_env, metadata.host, monkeypatch)
    s3 = wiring.aws_client("s3", settings)
    s3.create_bucket(Bucket="federated-bucket")
    s3.put_object(Bucket="federated-bucket", Key="manifests/x.json", Body=b"{}")
    sns = wiring.aws_client("sns", settings)
    sns.create_topic(Name="federated-topic")

    [request] = metadata.requests  # one token for both clients: the session is shared
    assert request["flavor"] == "Google"
    assert request["path"] == "/computeMetadata/v1/instance/service-accounts/default/identity"
    assert request["query"] == {"audience": AUDIENCE, "format": "full"}
    frozen = s3._request_signer._credentials.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.token  # temporary STS credentials
    identity = wiring.aws_client("sts", settings).get_caller_identity()
    assert ":assumed-role/storyrec-gcp/storyrec-gcp" in identity["Arn"]


def test_credentials_are_refreshed_with_a_fresh_token_before_they_expire(
    aws_env: AwsEnv, metadata: Metadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sts() -> Any:
        return boto3.client("sts", region_name="us-east-1", config=Config(signature_version=UNSIGNED))

    # 900 s (STS's minimum) is inside botocore's 15-minute advisory window: every use refreshes
    provider = GoogleWebIdentityProvider(
        ROLE, "storyrec-test", lambda: metadata_id_token(metadata.host, AUDIENCE), sts, duration=900
    )
    credentials = provider.load()
    first = credentials.get_frozen_credentials()
    second = credentials.get_frozen_credentials()
    assert len(metadata.requests) == 2 and first.access_key != second.access_key


def test_an_unreachable_metadata_server_is_a_clear_error(aws_env: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServiceUnavailable, match="metadata server"):
        metadata_id_token("127.0.0.1:9", AUDIENCE, timeout=1)


FAMILY_ROLES = {
    "STORYREC_AWS_ROLE_ARN_EXPORT": "arn:aws:iam::123456789012:role/storyrec-gcp-export",
    "STORYREC_AWS_ROLE_ARN_FEEDS": "arn:aws:iam::123456789012:role/storyrec-gcp-feeds",
    "STORYREC_AWS_ROLE_ARN_REFRESH": "arn:aws:iam::123456789012:role/storyrec-gcp-refresh",
}


def _function_settings(aws_env: AwsEnv, metadata_host: str, monkeypatch: pytest.MonkeyPatch, target: str) -> Settings:
    """The settings of one deployed function: every family's role in its .env, FUNCTION_TARGET from the runtime."""
    return _settings(aws_env, metadata_host, monkeypatch, {**FAMILY_ROLES, "FUNCTION_TARGET": target})


@pytest.mark.parametrize(
    ("target", "role"),
    [
        ("export_daily", "storyrec-gcp-export"),
        ("fill_feeds_daily", "storyrec-gcp-feeds"),
        ("first_feed_for_new_user", "storyrec-gcp-feeds"),
        ("refresh_feed", "storyrec-gcp-refresh"),
    ],
)
def test_each_function_assumes_its_own_familys_role(
    aws_env: AwsEnv, metadata: Metadata, monkeypatch: pytest.MonkeyPatch, target: str, role: str
) -> None:
    settings = _function_settings(aws_env, metadata.host, monkeypatch, target)
    identity = wiring.aws_client("sts", settings).get_caller_identity()
    assert f":assumed-role/{role}/" in identity["Arn"]
    assert [r["query"]["audience"] for r in metadata.requests] == [AUDIENCE]


def test_capture_gets_no_federated_credentials(
    aws_env: AwsEnv, metadata: Metadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture calls no AWS service: its process never asks for a token nor assumes any role."""
    settings = _function_settings(aws_env, metadata.host, monkeypatch, "capture_click")
    assert settings.aws_stage.aws_role_arn is None
    wiring.aws_client("sts", settings)
    assert metadata.requests == []
