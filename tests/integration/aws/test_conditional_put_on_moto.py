"""Does moto in server mode honour S3 conditional writes (PutObject ``If-None-Match: *``)? The decision
record's create-only write relies on it, so this is checked with a raw boto3 client, not the adapter."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shared import wiring
from shared.config import Settings
from tests.integration.aws.conftest import AwsEnv

pytestmark = pytest.mark.integration


def test_moto_refuses_a_second_put_with_if_none_match_star(aws_env: AwsEnv) -> None:
    s3 = wiring.aws_client("s3", Settings.from_env({**aws_env.env, "STORYREC_GCP_PROJECT": "demo-test"}))
    s3.create_bucket(Bucket="conditional-put")
    s3.put_object(Bucket="conditional-put", Key="k", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="conditional-put", Key="k", Body=b"two", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket="conditional-put", Key="k")["Body"].read() == b"one"
