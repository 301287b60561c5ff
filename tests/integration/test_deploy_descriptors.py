"""The deploy descriptors are valid: serverless 3 packages offline and cfn-lint passes the template."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from shared.config import Settings
from tests.integration.engine.conftest import free_port
from tests.integration.test_extras import fresh_venv, import_all

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOY_TOOLS = REPO / "infra" / "deploy"


@pytest.fixture(scope="module")
def serverless_bin() -> Path:
    binary = DEPLOY_TOOLS / "node_modules" / ".bin" / "serverless"
    if not binary.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install serverless 3 (infra/deploy/package.json)"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEPLOY_TOOLS, check=True, timeout=600
        )
    return binary


def _package(serverless_bin: Path, tmp_path: Path, *params: str) -> Path:
    """``serverless package --stage ci`` offline (with ``--param`` overrides); the CloudFormation template."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "HOME": str(tmp_path),
    }
    out = tmp_path / "package"
    result = subprocess.run(
        [str(serverless_bin), "package", "--stage", "ci", "--package", str(out), *(f"--param={p}" for p in params)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "cloudformation-template-update-stack.json"


def _cfn_lint(template: Path, *ignored: str) -> None:
    # W3005: serverless adds DependsOn on a function's own role next to its GetAtt (its generated code, harmless)
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template), "--ignore-checks", "W3005", *ignored],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.fixture(scope="module")
def packaged(serverless_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default package (``--stage ci``, no params): template and Lambda zip."""
    return _package(serverless_bin, tmp_path_factory.mktemp("sls")).parent


def test_serverless_packages_a_template_cfn_lint_accepts(packaged: Path) -> None:
    template = packaged / "cloudformation-template-update-stack.json"
    resources = json.loads(template.read_text())["Resources"]
    outputs = set(json.loads(template.read_text())["Outputs"])
    assert {f"{role}Arn" for role in GOOGLE_ROLES.values()} <= outputs and "GcpFederatedRoleArn" not in outputs
    assert {"ImportBucket", "ImportBucketPolicy", "AlertsTopic", "PersonalizeRole"} <= set(resources)
    _check_aws_stage(resources)
    _check_feed_batch_grants(resources)
    _check_personalize_is_not_a_confused_deputy(resources)
    _check_google_families_hold_only_their_grants(resources)
    _check_defaults_mirror_the_settings(resources)
    _cfn_lint(template)


def test_the_lambda_zip_imports_with_the_lambda_runtime_alone(packaged: Path, tmp_path: Path) -> None:
    """The zip serverless uploads, beside only functions_aws/requirements.txt (the runtime's boto3, the layer)."""
    code = tmp_path / "task"
    with zipfile.ZipFile(packaged / "storyrec.zip") as artifact:
        artifact.extractall(code)
    python = fresh_venv(tmp_path / "venv", "-r", str(REPO / "functions_aws" / "requirements.txt"))
    loaded = import_all(python, tmp_path, [str(code)], ["functions_aws"])
    assert {"functions_aws", "shared", "aws_lambda_powertools", "botocore"} <= loaded
    assert loaded.isdisjoint({"google", "typer", "rich", "pandas", "matplotlib"})


RENAMED = {
    "importBucket": "news-import-bucket",
    "importPrefix": "exports/",
    "statePrefix": "news-state/",
    "feedBatchPrefix": "fill/batch/",
    "metricsNamespace": "newsrec",
    "datasetGroup": "news",
    "solution": "news-main",
    "baselineSolution": "news-popular",
    "campaign": "news-feed",
    "filter": "news-unseen",
}
SERVICE_ACCOUNT_IDS = {
    "gcpExportServiceAccountId": "100000000000000000001",
    "gcpFeedsServiceAccountId": "100000000000000000002",
    "gcpRefreshServiceAccountId": "100000000000000000003",
}


def test_renamed_resources_yield_matching_arns_and_environment(serverless_bin: Path, tmp_path: Path) -> None:
    """Every name comes from the stage params: renamed, no ARN nor variable keeps a default name."""
    params = {**RENAMED, **SERVICE_ACCOUNT_IDS}
    template = _package(serverless_bin, tmp_path, *(f"{k}={v}" for k, v in params.items()))
    text = template.read_text()
    resources = json.loads(text)["Resources"]
    _check_each_role_trusts_only_its_service_account(resources)
    settings = _lambda_settings(resources)
    assert settings.import_bucket == "news-import-bucket" and settings.import_prefix == "exports/"
    assert settings.metrics_namespace == "newsrec" and settings.aws_stage.state_prefix == "news-state/"
    names = settings.personalize
    assert (names.dataset_group, names.solution, names.campaign, names.filter) == (
        "news",
        "news-main",
        "news-feed",
        "news-unseen",
    )
    assert settings.aws_stage.baseline_solution == "news-popular"
    arns = [arn for _, statement in _statements(resources) for arn in _arns(statement)]
    personalize = "arn:aws:personalize:${AWS::Region}:${AWS::AccountId}:"
    by_kind: dict[str, set[str]] = {}
    for arn in arns:
        if personalize in arn:
            rest = arn.split(personalize)[1].rstrip('"}')
            by_kind.setdefault(rest.split("/")[0], set()).add(rest)
    assert by_kind["dataset-group"] == {"dataset-group/news"}
    assert by_kind["dataset"] == {"dataset/news/*"}
    assert by_kind["campaign"] == {"campaign/news-feed"}
    assert by_kind["filter"] == {"filter/news-unseen-*"}
    slots = ("news-main", "news-main-b", "news-popular")  # the serving solution's two slots, the baseline
    assert by_kind["solution"] == {f"solution/{n}{v}" for n in slots for v in ("", "/*")}
    buckets = [a for a in arns if "arn:aws:s3:::" in a]
    assert buckets and all('arn:aws:s3:::news-import-bucket"' in a or "news-import-bucket/" in a for a in buckets)
    for prefix in ("interactions", "items", "users", "manifests"):
        assert f"news-import-bucket/exports/{prefix}/*" in text
    assert "news-import-bucket/news-state/*" in text and "news-import-bucket/fill/batch/*/output/*" in text
    assert "${ImportBucket.Arn}/news-state/held/*" in text and "${ImportBucket.Arn}/exports/items/*" in text
    rules = resources["ImportBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"][0]
    assert rules["Filter"]["S3Key"]["Rules"][0] == {"Name": "prefix", "Value": "exports/manifests/"}
    for default in (
        "storyrec-import",
        "dataset-group/storyrec",
        "dataset/storyrec/",
        "campaign/storyrec-feed",
        '"storyrec-feed"',
        "storyrec-exclude-seen",
        "storyrec-user-personalization",
        "storyrec-popularity-baseline",
        "storyrec-state/",
        "batch/feeds/",
        '[\\"storyrec\\"',
        '"cloudwatch:namespace": "storyrec"',
    ):
        assert default not in text, default
    # W1020: a plain bucket name leaves Fn::Sub nothing to substitute (harmless; the default needs it)
    _cfn_lint(template, "W1020")


def _lambda_settings(resources: dict[str, Any]) -> Settings:
    """The settings the Lambdas read from their environment (the bucket's ``Fn::Sub`` taken as written)."""
    [env] = {
        json.dumps(r["Properties"]["Environment"]["Variables"], sort_keys=True)
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    variables = json.loads(env)
    plain = {k: v if isinstance(v, str) else v.get("Fn::Sub") for k, v in variables.items()}
    plain = {k: v for k, v in plain.items() if isinstance(v, str)}
    return Settings.from_env(
        {
            **plain,
            "STORYREC_IMPORT_BUCKET": plain["STORYREC_IMPORT_BUCKET"].replace("${AWS::AccountId}", "123456789012"),
        }
    )


def _check_defaults_mirror_the_settings(resources: dict[str, Any]) -> None:
    """Unset params give the Lambdas shared/config.py's defaults, and the ARNs name those resources."""
    settings = _lambda_settings(resources)
    assert settings.import_bucket == "storyrec-import-ci-123456789012"
    defaults = Settings(gcp_project="storyrec-ci")
    assert settings.personalize == replace(defaults.personalize, import_role_arn=None)
    assert settings.aws_stage == replace(defaults.aws_stage, aws_role_arn=None)
    assert (settings.import_prefix, settings.metrics_namespace) == (defaults.import_prefix, defaults.metrics_namespace)
    rules = resources["ImportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert defaults.recommend.batch_prefix in {r["Prefix"] for r in rules}
    text = json.dumps(resources)
    assert f"dataset-group/{defaults.personalize.dataset_group}" in text
    assert f"campaign/{defaults.personalize.campaign}" in text


def test_firebase_json_deploys_the_python_functions_folder() -> None:
    config = json.loads((REPO / "firebase.json").read_text())
    [functions] = config["functions"]
    assert functions["source"] == "functions_gcp" and functions["runtime"] == "python311"
    assert (REPO / config["firestore"]["rules"]).exists()
    assert (REPO / "functions_gcp" / "requirements.txt").exists()
    assert "bundle" in " ".join(functions["predeploy"])


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, statement)
        for name, res in resources.items()
        if res["Type"] == "AWS::IAM::Role"
        for policy in res["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _check_aws_stage(resources: dict[str, Any]) -> None:
    """The AWS stage's template: functions and events, least privilege, TLS only, alarms, identity, dashboard."""
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"ImportManifestLambdaFunction", "TrainLambdaFunction", "MonitorLambdaFunction"}
    for res in functions.values():
        props = res["Properties"]
        assert props["Runtime"] == "python3.11"
        assert "Ref" not in str(props["Role"]) or "IamRoleLambdaExecution" not in str(props["Role"])
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert sorted(r["ScheduleExpression"] for r in rules) == ["cron(0 3 1 * ? *)", "rate(15 minutes)"]
    notification = resources["ImportBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"][0]
    assert {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]} == {
        "prefix": "manifests/",
        "suffix": "manifest.json",
    }
    # no action wildcard anywhere; resource "*" only for actions that have no resource type
    for role, statement in _statements(resources):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), (role, actions)
        if statement.get("Resource") == "*":
            assert all(a.split(":")[1].startswith("List") or a == "cloudwatch:PutMetricData" for a in actions), (
                role,
                actions,
            )
    deny = [
        s for s in resources["ImportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
    ]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["MetricName"], json.dumps(a["Dimensions"][0]["Value"])) for a in alarms}
    assert watched == {(m, json.dumps({"Ref": f})) for m in ("Errors", "Throttles") for f in functions}
    assert all(a["AlarmActions"] == [{"Ref": "AlertsTopic"}] for a in alarms)
    for role in GOOGLE_ROLES.values():
        trust = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        assert trust["Principal"] == {"Federated": "accounts.google.com"}
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert {"accounts.google.com:aud", "accounts.google.com:oaud"} <= set(trust["Condition"]["StringEquals"])
    assert "PipelineDashboard" in resources and "AlertsEmailSubscription" in resources


def _arns(statement: dict[str, Any]) -> list[str]:
    """A statement's resources as text (``!Sub`` strings and ``!GetAtt`` references alike)."""
    found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [r if isinstance(r, str) else json.dumps(r) for r in found]


def _grants(statements: list[dict[str, Any]], action: str) -> list[str]:
    return [arn for s in statements if s["Effect"] == "Allow" and action in _actions(s) for arn in _arns(s)]


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _check_feed_batch_grants(resources: dict[str, Any]) -> None:
    """The feed fill's batch inference (shared/recommend/batch.py ``fill_batch``), scoped to what it touches."""
    federated = [s for role, s in _statements(resources) if role == GOOGLE_ROLES["feeds"]]
    job = "personalize:${AWS::Region}:${AWS::AccountId}:batch-inference-job/storyrec-feeds-*"
    for action in ("personalize:CreateBatchInferenceJob", "personalize:DescribeBatchInferenceJob"):
        arns = _grants(federated, action)
        assert len(arns) == 1 and arns[0].endswith(f'{job}"}}'), (action, arns)
    assert _grants(federated, "personalize:ListBatchInferenceJobs") == ["*"]  # finding a retried run's job
    assert _grants(federated, "personalize:CreateFilter") == [
        '{"Fn::Sub": "arn:aws:personalize:${AWS::Region}:${AWS::AccountId}:filter/storyrec-exclude-seen-*"}'
    ]
    [pass_role] = [s for s in federated if "iam:PassRole" in _actions(s)]
    assert _arns(pass_role) == ['{"Fn::GetAtt": ["PersonalizeRole", "Arn"]}']
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}}
    bucket = "arn:aws:s3:::storyrec-import-ci-${AWS::AccountId}"  # packaged with --stage ci
    batch_puts = [a for a in _grants(federated, "s3:PutObject") if "/batch/" in a]
    batch_gets = [a for a in _grants(federated, "s3:GetObject") if "/batch/" in a]
    assert batch_puts == [json.dumps({"Fn::Sub": f"{bucket}/batch/feeds/*/users.jsonl"})], batch_puts
    assert batch_gets == [json.dumps({"Fn::Sub": f"{bucket}/batch/feeds/*/output/*"})], batch_gets
    objects = _grants(federated, "s3:PutObject") + _grants(federated, "s3:GetObject")
    assert json.dumps({"Fn::Sub": f"{bucket}/*"}) not in objects, "no bucket-wide object access for the Google side"
    # the role the job runs with writes only the job's output; the bucket lets Personalize do just that
    personalize = [s for role, s in _statements(resources) if role == "PersonalizeRole"]
    # ... and the metric attribution's report (bootstrap points its output at attribution/ in the import bucket)
    assert _grants(personalize, "s3:PutObject") == [
        json.dumps({"Fn::Sub": f"{bucket}/batch/feeds/*/output/*"}),
        json.dumps({"Fn::Sub": f"{bucket}/attribution/*"}),
    ]
    policy = resources["ImportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_personalize = [s for s in policy if s.get("Principal") == {"Service": "personalize.amazonaws.com"}]
    assert _grants(by_personalize, "s3:PutObject") == [
        json.dumps({"Fn::Sub": "${ImportBucket.Arn}/batch/feeds/*/output/*"}),
        json.dumps({"Fn::Sub": "${ImportBucket.Arn}/attribution/*"}),
    ]
    rules = resources["ImportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in rules if r["Status"] == "Enabled"}
    assert expiring.get("batch/feeds/", 99) <= 7, "batch files list user ids: they expire within a week"


# --- least privilege: Personalize acts only for this account, each Google family holds only its grants ---
GOOGLE_ROLES = {"export": "GcpExportRole", "feeds": "GcpFeedsRole", "refresh": "GcpRefreshRole"}
PERSONALIZE_SOURCE = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:aws:personalize:${AWS::Region}:${AWS::AccountId}:*"}},
}
REFRESH_ACTIONS = {
    "personalize:GetRecommendations",
    "personalize:DescribeCampaign",
    "personalize:DescribeFilter",
    "personalize:ListCampaigns",
    "personalize:ListDatasetGroups",
    "personalize:ListFilters",
    "cloudwatch:PutMetricData",
}


def _check_personalize_is_not_a_confused_deputy(resources: dict[str, Any]) -> None:
    """AWS's pattern for Personalize: aws:SourceAccount and aws:SourceArn on the role's trust and on every
    bucket-policy grant to the service; reads narrowed to what jobs read, writes to the batch output."""
    [trust] = resources["PersonalizeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "personalize.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == PERSONALIZE_SOURCE
    policy = resources["ImportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    to_personalize = [s for s in policy if s.get("Principal") == {"Service": "personalize.amazonaws.com"}]
    assert to_personalize and all(s["Effect"] == "Allow" for s in to_personalize)
    for statement in to_personalize:
        assert statement["Condition"] == PERSONALIZE_SOURCE, statement.get("Sid")
    reads = [
        "${ImportBucket.Arn}/interactions/*",
        "${ImportBucket.Arn}/items/*",
        "${ImportBucket.Arn}/users/*",
        "${ImportBucket.Arn}/storyrec-state/held/*",  # combined held days (shared/personalize/imports.py)
        "${ImportBucket.Arn}/batch/feeds/*/users.jsonl",
    ]
    assert sorted(_grants(to_personalize, "s3:GetObject")) == sorted(json.dumps({"Fn::Sub": r}) for r in reads)
    assert _grants(to_personalize, "s3:ListBucket") == [json.dumps({"Fn::GetAtt": ["ImportBucket", "Arn"]})]
    assert {a for s in to_personalize for a in _actions(s)} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    # the role's own policy grants the same objects, never the whole bucket
    role = [s for name, s in _statements(resources) if name == "PersonalizeRole"]
    bucket = "arn:aws:s3:::storyrec-import-ci-${AWS::AccountId}"
    role_reads = [json.dumps({"Fn::Sub": r.replace("${ImportBucket.Arn}", bucket)}) for r in reads]
    assert sorted(_grants(role, "s3:GetObject")) == sorted(role_reads)
    assert json.dumps({"Fn::Sub": f"{bucket}/*"}) not in _grants(role, "s3:GetObject")


def _check_google_families_hold_only_their_grants(resources: dict[str, Any]) -> None:
    """One role per Google function family; the public callable only reads recommendations."""
    federated = {
        name
        for name, res in resources.items()
        if res["Type"] == "AWS::IAM::Role"
        and "accounts.google.com" in json.dumps(res["Properties"]["AssumeRolePolicyDocument"])
    }
    assert federated == set(GOOGLE_ROLES.values()), federated
    by_family = {f: [s for name, s in _statements(resources) if name == r] for f, r in GOOGLE_ROLES.items()}
    assert all(s["Effect"] == "Allow" for statements in by_family.values() for s in statements)

    def actions(family: str) -> set[str]:
        return {a for s in by_family[family] for a in _actions(s)}

    refresh = actions("refresh")
    assert refresh == REFRESH_ACTIONS, refresh ^ REFRESH_ACTIONS
    assert not any(a.startswith(("s3:", "sns:", "iam:")) for a in refresh)
    assert "personalize:CreateBatchInferenceJob" not in refresh and "personalize:CreateFilter" not in refresh
    assert _grants(by_family["refresh"], "personalize:GetRecommendations") == [
        json.dumps({"Fn::Sub": "arn:aws:personalize:${AWS::Region}:${AWS::AccountId}:campaign/storyrec-feed"}),
        json.dumps({"Fn::Sub": "arn:aws:personalize:${AWS::Region}:${AWS::AccountId}:filter/storyrec-exclude-seen-*"}),
    ]
    export = actions("export")
    assert not any(a.startswith(("personalize:", "iam:")) for a in export), export
    assert {"s3:PutObject", "sns:Publish", "cloudwatch:PutMetricData"} <= export
    feeds = actions("feeds")
    assert "personalize:CreateBatchInferenceJob" in feeds and "s3:DeleteObject" not in feeds
    # only the export writes what the import Lambda acts on (the export's files and manifests)
    manifests = json.dumps({"Fn::Sub": "arn:aws:s3:::storyrec-import-ci-${AWS::AccountId}/manifests/*"})
    writers = {f for f, statements in by_family.items() if manifests in _grants(statements, "s3:PutObject")}
    assert writers == {"export"}
    bucket_wide = json.dumps({"Fn::Sub": "arn:aws:s3:::storyrec-import-ci-${AWS::AccountId}/*"})
    for family, statements in by_family.items():
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
            assert bucket_wide not in _grants(statements, action), (family, action)


def _check_each_role_trusts_only_its_service_account(resources: dict[str, Any]) -> None:
    """Each family's role is assumed only with that family's service account's Google ID token."""
    for family, role in GOOGLE_ROLES.items():
        [trust] = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        account = SERVICE_ACCOUNT_IDS[f"gcp{family.capitalize()}ServiceAccountId"]
        assert trust["Principal"] == {"Federated": "accounts.google.com"}
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Condition"] == {
            "StringEquals": {
                "accounts.google.com:aud": account,
                "accounts.google.com:sub": account,
                "accounts.google.com:oaud": "sts.amazonaws.com",
            }
        }, role


# (family, key) → may PutObject; every other pair is denied. moto evaluates the roles' Action and Resource
# (not their conditions); the keys are those the stages write.
S3_WRITES = {
    "manifests/dt=2026-11-28/manifest.json": {"export"},
    "interactions/dt=2026-11-28/part-00000.csv": {"export"},
    "items/dt=2026-11-28/part-00000.csv": {"export"},
    "storyrec-state/held/interactions-0.csv": set(),
    "storyrec-state/decisions/v1.json": set(),
    "batch/feeds/20261128T050000/users.jsonl": {"feeds"},
    "batch/feeds/20261128T050000/output/users.jsonl.out": set(),
    "experiments/test-v2-vs-v1/2026-11-28.csv": {"export"},
    "anything-else.json": set(),
}


def test_moto_enforcing_the_packaged_google_roles_lets_only_the_export_write_manifests(packaged: Path) -> None:
    """The packaged policies, loaded into moto with IAM authorization on and assumed as each family would
    (AssumeRoleWithWebIdentity): S3 writes succeed exactly where the table above says."""
    resources = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())["Resources"]
    account, region = "123456789012", "us-east-1"
    bucket = f"storyrec-import-ci-{account}"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"

    def no_auth_for(requests: str) -> None:  # moto counts requests process-wide: restored to "inf" below
        request = urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=requests.encode(), method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=10).close()

    root = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    no_auth_for(str(1 + 3 * len(GOOGLE_ROLES)))  # the set-up below, then every request is authorized
    try:
        boto3.client("s3", region_name=region, endpoint_url=url, **root).create_bucket(Bucket=bucket)
        iam = boto3.client("iam", region_name=region, endpoint_url=url, **root)
        sts = boto3.client("sts", region_name=region, endpoint_url=url, config=Config(signature_version=UNSIGNED))
        clients = {}
        for family, role in GOOGLE_ROLES.items():
            trust = resources[role]["Properties"]["AssumeRolePolicyDocument"]
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
            iam.put_role_policy(RoleName=role, PolicyName=role, PolicyDocument=_resolved_policy(resources, role))
            assumed = sts.assume_role_with_web_identity(
                RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="storyrec-gcp", WebIdentityToken="a.b.c"
            )["Credentials"]
            clients[family] = boto3.client(
                "s3",
                region_name=region,
                endpoint_url=url,
                aws_access_key_id=assumed["AccessKeyId"],
                aws_secret_access_key=assumed["SecretAccessKey"],
                aws_session_token=assumed["SessionToken"],
            )
        allowed: dict[str, set[str]] = {key: set() for key in S3_WRITES}
        for family, s3 in clients.items():
            for key in S3_WRITES:
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
                    allowed[key].add(family)
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "AccessDenied", exc
        assert allowed == S3_WRITES
    finally:
        no_auth_for("inf")
        server.stop()


def _resolved_policy(resources: dict[str, Any], role: str) -> str:
    """A role's inline policies as one document, the template's intrinsics resolved, conditions as written."""

    def resolve(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Fn::Sub" in value:
            text = str(value["Fn::Sub"])
            return text.replace("${AWS::Region}", "us-east-1").replace("${AWS::AccountId}", "123456789012")
        if "Fn::GetAtt" in value:
            return f"arn:aws:iam::123456789012:role/{value['Fn::GetAtt'][0]}"
        return f"arn:aws:sns:us-east-1:123456789012:{value['Ref']}"

    statements = []
    for policy in resources[role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            found = statement["Resource"]
            resolved = [resolve(r) for r in found] if isinstance(found, list) else resolve(found)
            statements.append({**statement, "Resource": resolved})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
