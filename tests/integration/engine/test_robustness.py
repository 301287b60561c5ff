"""Bad requests get Personalize's error types, never a 500 (raw HTTP, bypassing botocore's validation)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import botocore.session
import pytest

from infra.local.personalize.service import ControlPlane
from tests.integration.engine.conftest import RECIPE, unique

pytestmark = pytest.mark.integration
ERRORS = {
    "InvalidInputException",
    "ResourceNotFoundException",
    "ResourceAlreadyExistsException",
    "ResourceInUseException",
    "LimitExceededException",
}
SUPPORTED = ControlPlane.operations()
MODEL_OPERATIONS = set(botocore.session.get_session().get_service_model("personalize").operation_names)


def test_every_supported_operation_is_in_botocore() -> None:
    assert set(SUPPORTED) <= MODEL_OPERATIONS


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.parametrize("operation", SUPPORTED)
@pytest.mark.parametrize("body", [b"{}", b"not json", b"[1]", b'{"name": 5, "schemaArn": [], "maxResults": "x"}'])
def test_control_plane_rejects_garbage(engine_env: Any, operation: str, body: bytes) -> None:
    headers = {"X-Amz-Target": f"AmazonPersonalize.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    status, payload = post(engine_env.engine.url + "/", body, headers)
    if status == 200:
        assert operation.startswith("List")
    else:
        assert status == 400, payload
        assert payload["__type"] in ERRORS, payload


@pytest.mark.parametrize("path", ["/recommendations", "/personalize-ranking"])
@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"nope",
        b'{"campaignArn": 3, "numResults": "many"}',
        b'{"campaignArn": "x", "inputList": "a"}',
        b'{"campaignArn": ["x"], "userId": {}, "filterValues": 3}',
    ],
)
def test_runtime_rejects_garbage(engine_env: Any, path: str, body: bytes) -> None:
    status, payload = post(engine_env.engine.url + path, body, {"Content-Type": "application/json"})
    assert status == 400, payload
    assert payload["__type"] in ERRORS, payload


def test_solution_version_statuses_are_asynchronous(personalize: Any, trained: Any, engine_env: Any) -> None:
    solution = personalize.create_solution(
        name=unique("async"), datasetGroupArn=trained.group_arn, recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    gate = threading.Event()
    engine_env.engine.engine.worker.submit(gate.wait, 30)
    try:
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        found = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
        assert found["status"] == "CREATE PENDING"
        with pytest.raises(personalize.exceptions.ResourceInUseException):
            personalize.create_solution_version(solutionArn=solution)
    finally:
        gate.set()
