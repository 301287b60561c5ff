"""Each deployable part, installed ALONE in a fresh venv, imports its entry points.

One wheel of storyrec is built per session; each case is `uv venv` plus `uv pip install` of the wheel with
one extra (or of the requirements file that deploys), then a child interpreter outside the repository
imports the case's modules and lists what it loaded. uv's cache makes a warm case take a few seconds; only
PyPI is reached. The core is ``[project].dependencies`` (the operator CLI); the cloud extras must load no
library of the other cloud nor the CLI's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GCP_MODULES = ("main", "export", "recommend", "triggers")
FIRST_REPORT = """
from datetime import UTC, date, datetime
from shared.report import render_html
from shared.report.data import DailyCount, ReportData
page = render_html(ReportData("p", datetime.now(UTC), interactions_per_day=(DailyCount(date(2026, 1, 1), "click", 3),)))
assert "<svg" in page, page[:500]
"""


@dataclass(frozen=True)
class Case:
    """What to install (a wheel extra, or a requirements file) and which modules must then import."""

    install: str
    """``wheel[extra]``-style extra ("" for the core), or ``-r <file>`` relative to the repository."""
    walk: tuple[str, ...]
    skip: tuple[str, ...] = ()
    """Modules under ``walk`` that belong to another extra."""
    forbidden: tuple[str, ...] = ()
    """Top-level modules the entry points must not load."""
    check: str = ""
    gcp_source: bool = False


OTHER_CLOUD_AND_CLI = ("google", "firebase_admin", "firebase_functions", "typer", "rich", "pandas", "matplotlib")
CASES = {
    "core": Case("", ("shared",), skip=("shared.report", "shared.publish"), forbidden=("pandas", "matplotlib")),
    "aws": Case("aws", ("functions_aws",), forbidden=OTHER_CLOUD_AND_CLI),
    # httpx (under firebase-functions) loads rich when it is installed: only the core installs it
    "gcp": Case("gcp", GCP_MODULES, forbidden=("typer", "pandas", "matplotlib"), gcp_source=True),
    "gcp-requirements": Case(
        "-r functions_gcp/requirements.txt", GCP_MODULES, forbidden=("typer", "rich", "pandas"), gcp_source=True
    ),
    "report": Case("report", ("shared.report", "shared.cli.report"), check=FIRST_REPORT),
    "publish": Case("publish", ("shared.publish", "shared.cli.publish")),
}

_IMPORT = r"""
import importlib, json, pkgutil, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
for name in spec["walk"]:
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
        if not info.name.startswith(tuple(spec["skip"])):
            importlib.import_module(info.name)
exec(spec["check"])
print(json.dumps({"shared": importlib.import_module("shared").__file__, "loaded": sorted(sys.modules)}))
"""


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is in the dev extra: pip install -e '.[dev]'"
    return found


def _clean_env() -> dict[str, str]:
    """The environment without this process's venv and import path (the child sees only its own venv)."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "UV_PYTHON"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(args: list[str], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(args, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """storyrec's wheel, built from a copy of the sources (setuptools writes build/ and egg-info beside them)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "venv", ".cache", "*.pyc")  # local tooling
    for package in ("shared", "infra", "functions_aws"):
        shutil.copytree(REPO / package, src / package, ignore=ignore, symlinks=True)
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--wheel", "--out-dir", str(out), str(src)], cwd=out)
    [built] = out.glob("storyrec-*.whl")
    return built


def _gcp_bundle(root: Path, *, with_shared: bool = True) -> Path:
    """functions_gcp/ as Firebase uploads it: its modules and a copy of shared/ (infra/local/firebase/bundle.sh).

    Without ``with_shared``, only the function modules: never the repository's folder itself, where a local
    bundle (left by the e2e tests' bundle.sh) would shadow the installed package.
    """
    bundle = root / "functions_gcp"
    bundle.mkdir()
    for path in (REPO / "functions_gcp").glob("*.py"):
        shutil.copy(path, bundle / path.name)
    if with_shared:
        shutil.copytree(REPO / "shared", bundle / "shared", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "infra" / "personalize" / "schemas", bundle / "shared" / "schemas")
    return bundle


def fresh_venv(venv: Path, *install: str) -> Path:
    """A venv at ``venv`` holding only what ``uv pip install *install`` brings; its python."""
    uv = _uv()
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "--quiet", "--python", str(python), *install], cwd=venv.parent)
    return python


def import_all(python: Path, cwd: Path, path: list[str], walk: Sequence[str], skip: Sequence[str] = ()) -> set[str]:
    """Import ``walk`` (packages with every submodule but ``skip``) in ``python``; the top-level modules loaded."""
    spec = {"path": path, "walk": list(walk), "skip": list(skip), "check": ""}
    return _import(python, cwd, spec)


def _import(python: Path, cwd: Path, spec: dict[str, Any]) -> set[str]:
    result = json.loads(_run([str(python), "-c", _IMPORT, json.dumps(spec)], cwd=cwd).splitlines()[-1])
    assert not Path(result["shared"]).is_relative_to(REPO), "imported the repository's shared/, not the install"
    return {m.split(".")[0] for m in result["loaded"]}


def _install(case: Case, wheel: Path, venv: Path) -> tuple[Path, list[str]]:
    """A venv with only what ``case`` installs; the import path the child adds."""
    if case.install.startswith("-r "):
        python = fresh_venv(venv, "-r", str(REPO / case.install.removeprefix("-r ")))
        return python, [str(_gcp_bundle(venv.parent))]
    extra = f"[{case.install}]" if case.install else ""
    python = fresh_venv(venv, f"storyrec{extra} @ {wheel.as_uri()}")
    return python, [str(_gcp_bundle(venv.parent, with_shared=False))] if case.gcp_source else []


@pytest.mark.parametrize("name", list(CASES))
def test_each_part_installed_alone_imports_its_entry_points(name: str, wheel: Path, tmp_path: Path) -> None:
    case = CASES[name]
    python, path = _install(case, wheel, tmp_path / "venv")
    spec = {"path": path, "walk": list(case.walk), "skip": list(case.skip), "check": case.check}
    loaded = _import(python, tmp_path, spec)
    assert loaded.isdisjoint(case.forbidden), sorted(loaded & set(case.forbidden))
    if name == "core":
        assert "bootstrap" in _run([str(python.parent / "storyrec"), "--help"], cwd=tmp_path)
