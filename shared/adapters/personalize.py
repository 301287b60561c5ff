"""Personalize control plane and runtime behind one gateway, over injected boto3 clients.

Every create is describe-or-create keyed on the resource name, so a retried Lambda or
a re-run CLI command finds what the first attempt made instead of failing or duplicating it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from shared.errors import AlreadyExists, NotFound, StoryrecError

ImportMode = Literal["FULL", "INCREMENTAL"]

# list operation, result key, ARN key, parent filter argument
_LISTS: dict[str, tuple[str, str, str, str | None]] = {
    "schema": ("list_schemas", "schemas", "schemaArn", None),
    "dataset_group": ("list_dataset_groups", "datasetGroups", "datasetGroupArn", None),
    "dataset": ("list_datasets", "datasets", "datasetArn", "datasetGroupArn"),
    "import_job": ("list_dataset_import_jobs", "datasetImportJobs", "datasetImportJobArn", "datasetArn"),
    "solution": ("list_solutions", "solutions", "solutionArn", "datasetGroupArn"),
    "campaign": ("list_campaigns", "campaigns", "campaignArn", "solutionArn"),
    "filter": ("list_filters", "Filters", "filterArn", "datasetGroupArn"),
}
_NAME_KEYS = {"import_job": "jobName", "filter": "name"}


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with the score Personalize gave it (None for recipes without scores)."""

    item_id: str
    score: float | None


class PersonalizeError(StoryrecError):
    """Personalize rejected a request; ``code`` is its error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _translate(exc: ClientError) -> StoryrecError:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
    if code == "ResourceNotFoundException":
        return NotFound(message)
    if code == "ResourceAlreadyExistsException":
        return AlreadyExists(message)
    return PersonalizeError(code, message)


class PersonalizeGateway:
    """What storyrec does with Personalize: set up resources, import, and read recommendations."""

    def __init__(self, control: Any, runtime: Any) -> None:
        self._control = control
        self._runtime = runtime

    def find_arn(self, kind: str, name: str, parent_arn: str | None = None) -> str | None:
        """The ARN of the resource of ``kind`` called ``name`` (under ``parent_arn``), or None."""
        operation, key, arn_key, parent_arg = _LISTS[kind]
        kwargs = {parent_arg: parent_arn} if parent_arg and parent_arn else {}
        name_key = _NAME_KEYS.get(kind, "name")
        try:
            for page in self._control.get_paginator(operation).paginate(**kwargs):
                for item in page.get(key, []):
                    if item.get(name_key) == name:
                        return str(item[arn_key])
        except ClientError as exc:
            raise _translate(exc) from exc
        return None

    def _describe_or_create(
        self, kind: str, resource_name: str, parent_arn: str | None, create: Any, /, **kwargs: Any
    ) -> str:
        existing = self.find_arn(kind, resource_name, parent_arn)
        if existing:
            return existing
        try:
            response = create(**kwargs)
        except ClientError as exc:
            translated = _translate(exc)
            if isinstance(translated, AlreadyExists):  # lost a race with another attempt
                found = self.find_arn(kind, resource_name, parent_arn)
                if found:
                    return found
            raise translated from exc
        return str(response[_LISTS[kind][2]])

    def ensure_schema(self, name: str, schema_json: str) -> str:
        return self._describe_or_create("schema", name, None, self._control.create_schema,
                                        name=name, schema=schema_json)

    def ensure_dataset_group(self, name: str) -> str:
        return self._describe_or_create("dataset_group", name, None, self._control.create_dataset_group, name=name)

    def ensure_dataset(self, group_arn: str, dataset_type: str, schema_arn: str, name: str) -> str:
        return self._describe_or_create(
            "dataset", name, group_arn, self._control.create_dataset,
            name=name, datasetGroupArn=group_arn, datasetType=dataset_type.upper(), schemaArn=schema_arn,
        )

    def start_import(
        self, job_name: str, dataset_arn: str, s3_uri: str, role_arn: str | None, mode: ImportMode
    ) -> str:
        """Start (or find, if already started under this name) a dataset import job."""
        kwargs: dict[str, Any] = {
            "jobName": job_name,
            "datasetArn": dataset_arn,
            "dataSource": {"dataLocation": s3_uri},
            "importMode": mode,
        }
        if role_arn:
            kwargs["roleArn"] = role_arn
        return self._describe_or_create("import_job", job_name, dataset_arn,
                                        self._control.create_dataset_import_job, **kwargs)

    def describe(self, kind: str, arn: str) -> dict[str, Any]:
        """The Describe* response body for ``kind`` (e.g. 'dataset_import_job', 'solution_version')."""
        operation = f"describe_{kind}"
        arn_arg = "".join(w.capitalize() if i else w for i, w in enumerate(kind.split("_"))) + "Arn"
        try:
            response = getattr(self._control, operation)(**{arn_arg: arn})
        except ClientError as exc:
            raise _translate(exc) from exc
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    def get_recommendations(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int = 25,
        filter_arn: str | None = None,
        filter_values: dict[str, str] | None = None,
    ) -> list[Recommendation]:
        """Personalize GetRecommendations for one user."""
        kwargs: dict[str, Any] = {"campaignArn": campaign_arn, "userId": user_id, "numResults": num_results}
        if filter_arn:
            kwargs["filterArn"] = filter_arn
            if filter_values:
                kwargs["filterValues"] = filter_values
        try:
            response = self._runtime.get_recommendations(**kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc
        return [Recommendation(str(i["itemId"]), i.get("score")) for i in response.get("itemList", [])]
