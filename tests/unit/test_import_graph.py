"""The import graph keeps its shape: the contracts of ``.importlinter`` hold, and ``shared`` imports at module top.

Handlers -> composition -> stages -> ports and model, adapters -> ports, no cycle (``.importlinter`` says
which module sits where). An import inside a function hides an edge from a quick read and can hide a
cycle, so one of ``shared.*`` inside a function must say why on its line: ``# cold-start: <measured reason>``.
Each failure names the file and line of every import to change.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.application import use_cases
from importlinter.configuration import configure

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / ".importlinter"
LAZY_REASON = "# cold-start:"


def _path(module: str) -> str:
    """``shared.export.job`` -> ``shared/export/job.py`` (or the package's ``__init__.py``)."""
    base = Path(*module.split("."))
    package = base / "__init__.py"
    return str(package if (REPO / package).exists() else base.with_suffix(".py"))


def _link(link: dict[str, Any]) -> str:
    lines = ",".join(str(n) for n in link["line_numbers"])
    return f"{_path(link['importer'])}:{lines}: imports {link['imported']}"


def _is_link(item: Any) -> bool:
    return isinstance(item, dict) and {"importer", "imported", "line_numbers"} <= item.keys()


def _violations(metadata: Any, graph: grimp.ImportGraph) -> Iterator[str]:
    """Each chain of imports named in a broken contract's metadata, as ``file:line: imports module`` links.

    Chains come as lists of links ``{importer, imported, line_numbers}``; an acyclic contract names the
    imports whose removal breaks each cycle as ``(importer, imported)`` pairs; an exhaustive layers
    contract names its ``undeclared_modules``.
    """
    if _is_link(metadata):
        yield _link(metadata)
    elif isinstance(metadata, list) and metadata and all(_is_link(item) for item in metadata):
        yield ", then ".join(_link(link) for link in metadata)
    elif isinstance(metadata, dict):
        for module in sorted(metadata.get("undeclared_modules", ())):
            yield f"{_path(module)}: in no layer (place it in .importlinter)"
        for key, value in metadata.items():
            if key == "undeclared_modules":
                continue
            alternatives = key in ("extra_firsts", "extra_lasts") and isinstance(value, list)
            for item in value if alternatives else [value]:
                yield from _violations(item, graph)
    elif isinstance(metadata, tuple) and len(metadata) == 2 and all(isinstance(m, str) for m in metadata):
        for detail in graph.get_import_details(importer=metadata[0], imported=metadata[1]):
            yield f"{_path(metadata[0])}:{detail['line_number']}: imports {metadata[1]} (closes a cycle)"
    elif isinstance(metadata, list | tuple | set | frozenset):
        for item in metadata:
            yield from _violations(item, graph)


LOCAL_TOOLING = {"venv", "node_modules", "__pycache__", ".cache"}


def _committed_packages(root: Path) -> Path:
    """The root packages as committed, in ``root``: without local tooling, nor the deploy bundle (the copy of
    shared/ that bundle.sh leaves in functions_gcp/, which the e2e suite makes), both read as modules otherwise."""
    bundle = REPO / "functions_gcp"

    def skip(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in LOCAL_TOOLING or (Path(folder) == bundle and n == "shared")}

    for package in ("shared", "functions_gcp", "functions_aws", "infra"):
        shutil.copytree(REPO / package, root / package, ignore=skip)
    return root


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Runs every contract of ``.importlinter`` (what ``lint-imports`` runs) and lists each import that breaks one."""
    source = _committed_packages(tmp_path)
    monkeypatch.chdir(source)
    # functions_gcp is a namespace package: every sys.path entry holding one adds to it, the checkout's too
    elsewhere = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != REPO]
    monkeypatch.setattr(sys, "path", [str(source), *elsewhere])
    configure()  # what `lint-imports` does first: readers, graph builder, file system
    use_cases._register_built_in_contract_types()  # private, but what `lint-imports` runs next
    options = use_cases.read_user_options(str(CONTRACTS))
    report = use_cases.create_report(options, cache_dir=None)
    graph = grimp.build_graph(*options.session_options["root_packages"], cache_dir=None)
    broken = []
    for contract, check in report.get_contracts_and_checks():
        if not check.kept:
            lines = sorted(set(_violations(check.metadata, graph))) or ["(`lint-imports` says why)"]
            broken.append("\n".join([f"{contract.name}:", *(f"  {line}" for line in lines)]))
    assert not broken, "import contracts broken (run `lint-imports` for the chains):\n" + "\n".join(broken)


def _imports_in_functions(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def _names_shared(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "shared"
    return any(alias.name.split(".")[0] == "shared" for alias in node.names)


def lazy_shared_imports(source: str) -> list[int]:
    """Lines of ``source`` that import ``shared`` inside a function with no ``# cold-start:`` reason."""
    lines = source.splitlines()
    found = set()
    for node in _imports_in_functions(ast.parse(source)):
        statement = lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if _names_shared(node) and not any(LAZY_REASON in line for line in statement):
            found.add(node.lineno)
    return sorted(found)


def test_shared_imports_shared_at_module_top() -> None:
    unexplained = [
        f"{path.relative_to(REPO)}:{line}: {path.read_text().splitlines()[line - 1].strip()}"
        for path in sorted((REPO / "shared").rglob("*.py"))
        for line in lazy_shared_imports(path.read_text())
    ]
    assert not unexplained, (
        f"imports of shared.* inside a function; move them to the module's top, or write `{LAZY_REASON} <why>`"
        " on the line:\n" + "\n".join(unexplained)
    )


def test_the_lazy_import_check_sees_nested_and_multiline_imports() -> None:
    source = '''
from shared import wiring


def f():
    from shared.errors import NotFound
    import shared.limits  # cold-start: +200 ms
    from shared.config import (  # cold-start: the Lambda has no google-cloud
        Settings,
    )
    import json

    def g():
        from . import sibling
'''
    assert lazy_shared_imports(source) == [6, 14]
