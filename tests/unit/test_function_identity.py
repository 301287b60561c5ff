"""Least privilege on the Google side: each function family runs as its own service account and assumes its
own AWS role; capture assumes none.

The service accounts are read from the endpoint manifest exactly as the Firebase CLI gets it
(``firebase_functions.private.serving``, the code behind ``/__/functions.yaml``); the role a process
assumes is read from its settings, with ``FUNCTION_TARGET`` as the Functions runtime sets it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shared.config import FUNCTION_FAMILIES, ServiceAccounts, Settings, TriggerSettings
from shared.errors import ConfigError
from tests.unit.capture import events

pytestmark = pytest.mark.unit

ROLES = {
    "export": "arn:aws:iam::123456789012:role/storyrec-gcp-export",
    "feeds": "arn:aws:iam::123456789012:role/storyrec-gcp-feeds",
    "refresh": "arn:aws:iam::123456789012:role/storyrec-gcp-refresh",
}
ROLE_VARIABLES = {f"STORYREC_AWS_ROLE_ARN_{family.upper()}": arn for family, arn in ROLES.items()}
_MODULES = ("main", "export", "recommend", "triggers")


@pytest.fixture
def load_manifest(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function that loads functions_gcp fresh under the current environment and returns its endpoints."""

    def load() -> dict[str, Any]:
        from firebase_functions.private import serving

        for name in _MODULES:
            monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")  # as tests/unit/capture/events.load_main
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", events.PROJECT)
        monkeypatch.syspath_prepend(str(events.REPO / "functions_gcp"))
        monkeypatch.chdir(events.REPO / "functions_gcp")
        spec: dict[str, Any] = yaml.safe_load(serving.functions_as_yaml(serving.get_functions()))  # type: ignore[no-untyped-call]
        return spec["endpoints"]  # type: ignore[no-any-return]

    yield load
    for name in _MODULES:
        sys.modules.pop(name, None)


def test_every_function_belongs_to_a_family(load_manifest: Any) -> None:
    """A new function without a family would run as the default account: it must be given one here first."""
    assert set(load_manifest()) == set(FUNCTION_FAMILIES)
    assert set(FUNCTION_FAMILIES.values()) == {"capture", *ROLES}
    public = [name for name, family in FUNCTION_FAMILIES.items() if family == "refresh"]
    assert public == ["refresh_feed"], "the public callable shares its account and role with nothing else"


def test_each_family_runs_as_its_own_service_account(load_manifest: Any) -> None:
    accounts = ServiceAccounts()
    endpoints = load_manifest()
    running_as = {name: e.get("serviceAccountEmail") for name, e in endpoints.items()}
    assert running_as == {name: getattr(accounts, family) for name, family in FUNCTION_FAMILIES.items()}
    assert len({getattr(accounts, family) for family in set(FUNCTION_FAMILIES.values())}) == 4


def test_service_accounts_are_deploy_time_values(load_manifest: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_SERVICE_ACCOUNT_REFRESH", "feed-reader@news-prod.iam.gserviceaccount.com")
    monkeypatch.setenv("STORYREC_SERVICE_ACCOUNT_CAPTURE", "news-capture@")
    endpoints = load_manifest()
    assert endpoints["refresh_feed"]["serviceAccountEmail"] == "feed-reader@news-prod.iam.gserviceaccount.com"
    assert endpoints["capture_click"]["serviceAccountEmail"] == "news-capture@"
    assert endpoints["export_daily"]["serviceAccountEmail"] == ServiceAccounts().export


@pytest.mark.parametrize("value", ["storyrec-refresh", "a@b@c", "Storyrec-Refresh@", "x" * 70 + "@", "r@ev il"])
def test_a_malformed_service_account_names_its_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="STORYREC_SERVICE_ACCOUNT_REFRESH"):
        TriggerSettings.from_env({"STORYREC_SERVICE_ACCOUNT_REFRESH": value})


def _role(target: str | None, **extra: str) -> str | None:
    env = {"STORYREC_GCP_PROJECT": "p", **ROLE_VARIABLES, **extra}
    if target is not None:
        env["FUNCTION_TARGET"] = target
    return Settings.from_env(env).aws_stage.aws_role_arn


@pytest.mark.parametrize(("target", "family"), sorted(FUNCTION_FAMILIES.items()))
def test_a_function_assumes_its_familys_role_and_capture_none(target: str, family: str) -> None:
    assert _role(target) == ROLES.get(family)


@given(st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and t.strip() not in FUNCTION_FAMILIES))
def test_an_unknown_function_assumes_no_role(target: str) -> None:
    assert _role(target) is None


def test_the_callable_never_gets_a_writing_role_whatever_else_is_set() -> None:
    assert _role("refresh_feed") == ROLES["refresh"]
    assert _role("refresh_feed", STORYREC_AWS_ROLE_ARN_REFRESH="") is None  # unset: no role, not another's


def test_the_shared_role_variable_is_refused_inside_a_function() -> None:
    with pytest.raises(ConfigError, match="STORYREC_AWS_ROLE_ARN_EXPORT"):
        _role("export_daily", STORYREC_AWS_ROLE_ARN="arn:aws:iam::123456789012:role/storyrec-gcp")


def test_outside_the_functions_the_process_role_is_the_one_variable() -> None:
    single = "arn:aws:iam::123456789012:role/storyrec-gcp"
    assert _role(None, STORYREC_AWS_ROLE_ARN=single) == single
    assert _role(None) is None


@pytest.mark.parametrize("name", sorted(ROLE_VARIABLES))
def test_a_malformed_family_role_names_its_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"STORYREC_GCP_PROJECT": "p", name: "arn:aws:iam::123:user/x"})
