"""The browser client's package (client/) agrees with the SDK the tests install and the homepage serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.local.firebase import site

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_one_firebase_version_everywhere() -> None:
    peer = site.sdk_version()
    rules_tests = json.loads((REPO / "tests" / "rules" / "package.json").read_text())["dependencies"]["firebase"]
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", peer)  # pinned, not a range
    assert rules_tests == peer  # the SDK the homepage is built from is the one the module names
    assert site.import_map_sdk_version() == {peer}  # the CDN address the import map redirects


def test_the_types_declare_what_the_module_exports() -> None:
    js = (REPO / "client" / "storyrec-client.js").read_text()
    dts = (REPO / "client" / "storyrec-client.d.ts").read_text()
    exported = set(re.findall(r"^export (?:const|function|class) (\w+)", js, re.M))
    declared = set(re.findall(r"^export declare (?:const|function|class) (\w+)", dts, re.M))
    assert exported and exported == declared
    package = json.loads((REPO / "client" / "package.json").read_text())
    assert package["exports"]["."] == {"types": "./storyrec-client.d.ts", "import": "./storyrec-client.js"}
    assert "firebase" not in package.get("dependencies", {})  # a peer: the app's own copy is used


def test_the_module_imports_the_sdk_by_package_name_only() -> None:
    js = (REPO / "client" / "storyrec-client.js").read_text()
    sources = re.findall(r'^\s*(?:import|} from) .*?"([^"]+)";', js, re.M) + re.findall(r'from "([^"]+)"', js)
    assert sources and set(sources) <= {"firebase/app", "firebase/auth", "firebase/firestore", "firebase/functions"}
