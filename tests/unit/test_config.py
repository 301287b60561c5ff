"""Settings: read once, typed, and a clear error naming the variable when something is off."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Emulators, Settings, TriggerSettings
from shared.errors import ConfigError

pytestmark = pytest.mark.unit

BASE = {"STORYREC_GCP_PROJECT": "news-prod"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_from_a_minimal_environment() -> None:
    s = Settings.from_env(BASE)
    assert s.gcp_project == "news-prod"
    assert s.collections.clicks == "clicks" and s.collections.ml_interactions == "ml_interactions"
    assert s.personalize.num_results == 25
    assert s.time_zone == "UTC" and s.import_prefix == ""


def test_every_value_can_be_overridden() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "AWS_REGION": "eu-west-1",
            "STORYREC_COLLECTION_CLICKS": "events",
            "STORYREC_IMPORT_BUCKET": "acme-personalize-import",
            "STORYREC_IMPORT_PREFIX": "/storyrec/",
            "STORYREC_BACKUP_BUCKET": "acme-backup",
            "STORYREC_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:ops",
            "STORYREC_PERSONALIZE_CAMPAIGN": "arn:aws:personalize:eu-west-1:123456789012:campaign/feed",
            "STORYREC_PERSONALIZE_NUM_RESULTS": "50",
            "STORYREC_TIME_ZONE": "America/Sao_Paulo",
            "STORYREC_EXPORT_SCHEDULE": "every day 03:30",
        }
    )
    assert s.region == "eu-west-1" and s.collections.clicks == "events"
    assert s.import_prefix == "storyrec/"
    assert s.personalize.campaign.endswith("campaign/feed") and s.personalize.num_results == 50
    assert s.tz.key == "America/Sao_Paulo"


def test_project_falls_back_to_the_standard_google_variable() -> None:
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p1"}).gcp_project == "p1"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "STORYREC_GCP_PROJECT"),
        ({**BASE, "STORYREC_IMPORT_BUCKET": "Not_A_Bucket!"}, "STORYREC_IMPORT_BUCKET"),
        ({**BASE, "STORYREC_SNS_TOPIC_ARN": "ops-topic"}, "STORYREC_SNS_TOPIC_ARN"),
        ({**BASE, "STORYREC_PERSONALIZE_NUM_RESULTS": "many"}, "STORYREC_PERSONALIZE_NUM_RESULTS"),
        ({**BASE, "STORYREC_PERSONALIZE_NUM_RESULTS": "501"}, "STORYREC_PERSONALIZE_NUM_RESULTS"),
        ({**BASE, "STORYREC_PERSONALIZE_SOLUTION": "has spaces"}, "STORYREC_PERSONALIZE_SOLUTION"),
        ({**BASE, "STORYREC_TIME_ZONE": "Mars/Olympus"}, "STORYREC_TIME_ZONE"),
        ({**BASE, "STORYREC_COLLECTION_CLICKS": "a/b"}, "STORYREC_COLLECTION_CLICKS"),
        ({**BASE, "STORYREC_TRAIN_SCHEDULE": "monthly"}, "STORYREC_TRAIN_SCHEDULE"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_settings_are_immutable() -> None:
    s = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        s.gcp_project = "other"  # type: ignore[misc]


def test_trigger_settings_need_no_project_and_agree_with_settings() -> None:
    env = {
        "STORYREC_COLLECTION_CLICKS": "events",
        "STORYREC_EXPORT_SCHEDULE": "every day 03:30",
        "STORYREC_TIME_ZONE": "Europe/Lisbon",
    }
    triggers = TriggerSettings.from_env(env)
    assert triggers.collections.clicks == "events" and triggers.collections.stories == "stories"
    assert (triggers.export_schedule, triggers.time_zone) == ("every day 03:30", "Europe/Lisbon")
    full = Settings.from_env({**BASE, **env})
    assert (full.collections, full.export_schedule, full.time_zone) == (
        triggers.collections,
        triggers.export_schedule,
        triggers.time_zone,
    )
    assert TriggerSettings.from_env({}) == TriggerSettings()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"STORYREC_COLLECTION_USERS": "a/b"}, "STORYREC_COLLECTION_USERS"),
        ({"STORYREC_EXPORT_SCHEDULE": "daily"}, "STORYREC_EXPORT_SCHEDULE"),
        ({"STORYREC_TIME_ZONE": "Mars/Olympus"}, "STORYREC_TIME_ZONE"),
    ],
)
def test_bad_trigger_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        TriggerSettings.from_env(env)


def test_emulator_switches_and_capture_metrics() -> None:
    assert Settings.from_env(BASE).emulators == Emulators()
    s = Settings.from_env(
        {
            **BASE,
            "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080",
            "FUNCTIONS_EMULATOR": "true",
            "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023",
            "STORYREC_CAPTURE_METRICS": "cloudwatch",
        }
    )
    assert s.emulators == Emulators("127.0.0.1:8080", None, "http://127.0.0.1:9023", functions=True)
    assert s.capture_metrics == "cloudwatch" and Settings.from_env(BASE).capture_metrics == "log"
    with pytest.raises(ConfigError, match="STORYREC_CAPTURE_METRICS"):
        Settings.from_env({**BASE, "STORYREC_CAPTURE_METRICS": "statsd"})


def test_emulator_switch_decides_the_credentials() -> None:
    from google.auth.credentials import AnonymousCredentials

    from shared.wiring import firestore_client

    emulated = Settings.from_env({**BASE, "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"})
    assert isinstance(firestore_client(emulated)._credentials, AnonymousCredentials)


def _environment_reads(path: Path) -> list[int]:
    """Lines using ``os.environ`` / ``getenv`` other than as the argument of a ``*.from_env(...)`` call."""
    tree = ast.parse(path.read_text(), str(path))
    allowed = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_env"
        for arg in node.args
    }
    bad = []
    for node in ast.walk(tree):
        is_environ = isinstance(node, ast.Attribute) and node.attr in {"environ", "environb"}
        is_getenv = isinstance(node, ast.Attribute | ast.Name) and getattr(node, "attr", getattr(node, "id", "")) in {
            "getenv",
            "getenvb",
        }
        if (is_environ and id(node) not in allowed) or is_getenv:
            bad.append(node.lineno)
    return sorted(bad)


def test_shipped_code_reads_the_environment_only_through_settings() -> None:
    files = [p for pkg in ("shared", "functions_aws") for p in (REPO_ROOT / pkg).rglob("*.py")]
    files += (REPO_ROOT / "functions_gcp").glob("*.py")
    reads = {str(path.relative_to(REPO_ROOT)): _environment_reads(path) for path in sorted(files)}
    assert {name: lines for name, lines in reads.items() if lines} == {}


def test_the_environment_proof_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import os\nA = os.environ.get('X')\nB = os.getenv('Y')\nC = Settings.from_env(os.environ)\n")
    assert _environment_reads(sample) == [2, 3]


def test_trigger_paths_follow_the_settings_in_the_deployed_manifest() -> None:
    """Firebase reads the trigger path from the endpoint manifest when it loads main.py."""
    code = "import main; print(main.capture_click.__firebase_endpoint__.eventTrigger['eventFilterPathPatterns'])"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "STORYREC_COLLECTION_CLICKS": "events"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT / "functions_gcp",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'events/{clickId}'" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=REPO_ROOT / "functions_gcp",
        env={**env, "STORYREC_COLLECTION_CLICKS": "a/b"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "STORYREC_COLLECTION_CLICKS" in bad.stderr
