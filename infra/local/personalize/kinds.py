"""The resource kinds the engine keeps, in one registry.

Each kind says where its ARN lives in a record, which keys its List summaries carry, which generic
Describe/List operations it answers, and what to do after a restart with a record still pending.
A new kind is one entry here (plus its Create operation in service.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceKind:
    """One kind of resource (``datasetGroups``, ``solutionVersions``, ...)."""

    name: str
    arn_key: str
    summary_keys: tuple[str, ...]
    describe: str | None = None  # generic DescribeX operation (None: the control plane has its own)
    describe_key: str = ""
    list: str | None = None  # generic ListX operation
    list_key: str = ""
    list_parent: str | None = None  # the parent ARN a List call may filter on
    resume: str | None = None  # ControlPlane method that finishes a record left pending by a restart


STATUS_KEYS = ("status", "creationDateTime", "lastUpdatedDateTime")

KINDS: dict[str, ResourceKind] = {
    k.name: k
    for k in (
        ResourceKind(
            "schemas",
            "schemaArn",
            ("name", "schemaArn", "creationDateTime", "lastUpdatedDateTime", "domain"),
            "DescribeSchema",
            "schema",
            "ListSchemas",
            "schemas",
        ),
        ResourceKind(
            "datasetGroups",
            "datasetGroupArn",
            ("name", "datasetGroupArn", *STATUS_KEYS, "domain"),
            "DescribeDatasetGroup",
            "datasetGroup",
            "ListDatasetGroups",
            "datasetGroups",
        ),
        ResourceKind(
            "datasets",
            "datasetArn",
            ("name", "datasetArn", "datasetType", *STATUS_KEYS),
            "DescribeDataset",
            "dataset",
            "ListDatasets",
            "datasets",
            "datasetGroupArn",
        ),
        ResourceKind(
            "datasetImportJobs",
            "datasetImportJobArn",
            ("datasetImportJobArn", "jobName", *STATUS_KEYS, "failureReason", "importMode"),
            "DescribeDatasetImportJob",
            "datasetImportJob",
            "ListDatasetImportJobs",
            "datasetImportJobs",
            "datasetArn",
            resume="resume_import",
        ),
        ResourceKind(
            "solutions",
            "solutionArn",
            ("name", "solutionArn", *STATUS_KEYS, "recipeArn"),
            None,
            "solution",
            "ListSolutions",
            "solutions",
            "datasetGroupArn",
        ),
        ResourceKind(
            "solutionVersions",
            "solutionVersionArn",
            ("solutionVersionArn", "status", "trainingMode", "trainingType", *STATUS_KEYS[1:], "failureReason"),
            "DescribeSolutionVersion",
            "solutionVersion",
            "ListSolutionVersions",
            "solutionVersions",
            "solutionArn",
            resume="resume_training",
        ),
        ResourceKind(
            "campaigns",
            "campaignArn",
            ("name", "campaignArn", *STATUS_KEYS, "failureReason"),
            None,
            "campaign",
            None,  # ListCampaigns filters by solution through the version ARN: its own operation
            "campaigns",
            resume="resume_campaign",
        ),
        ResourceKind(
            "filters",
            "filterArn",
            (
                "name",
                "filterArn",
                "creationDateTime",
                "lastUpdatedDateTime",
                "datasetGroupArn",
                "failureReason",
                "status",
            ),
            "DescribeFilter",
            "filter",
            "ListFilters",
            "Filters",
            "datasetGroupArn",
        ),
        ResourceKind(
            "metricAttributions",
            "metricAttributionArn",
            ("name", "metricAttributionArn", *STATUS_KEYS, "failureReason"),
            None,  # Describe and List settle a pending record first: their own operations (attribution.py)
            "metricAttribution",
            None,
            "metricAttributions",
            "datasetGroupArn",
        ),
        ResourceKind(
            "batchInferenceJobs",
            "batchInferenceJobArn",
            (
                "batchInferenceJobArn",
                "jobName",
                *STATUS_KEYS,
                "failureReason",
                "solutionVersionArn",
                "batchInferenceJobMode",
            ),
            "DescribeBatchInferenceJob",
            "batchInferenceJob",
            "ListBatchInferenceJobs",
            "batchInferenceJobs",
            "solutionVersionArn",
            resume="resume_batch",
        ),
    )
}
DESCRIBE = {k.describe: k for k in KINDS.values() if k.describe}
LIST = {k.list: k for k in KINDS.values() if k.list}
