"""@storyrec/client used from a bundler: an app that installs the client/ folder as a dependency (a link, as
`npm install ../client` makes) is built by esbuild into one browser bundle, the bundle is run in Node up to a
constructed client, and an app written against the .d.ts passes `tsc --noEmit` (docs/client.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.local.firebase import emulators

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = HERE / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def installed() -> Path:
    """tests/bundler/node_modules from the lockfile (infra/local/firebase/setup.sh, or npm ci here once)."""
    if shutil.which("node") is None:
        pytest.fail("node is required for the bundler tests", pytrace=False)
    if not (BIN / "esbuild").exists() or not (HERE / "node_modules" / "@storyrec" / "client").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=HERE,
            check=True,
            timeout=600,
            capture_output=True,
        )
    return HERE / "node_modules"


def module_exports() -> set[str]:
    js = (REPO / "client" / "storyrec-client.js").read_text()
    return set(re.findall(r"^export (?:const|function|class) (\w+)", js, re.M))


@pytest.fixture(scope="module")
def bundle(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """app.js bundled for the browser, everything inlined; returns the bundle and esbuild's metafile."""
    out = tmp_path_factory.mktemp("bundle")
    build = subprocess.run(
        [
            str(BIN / "esbuild"),
            "app.js",
            "--bundle",
            "--format=esm",
            "--platform=browser",
            # the link's own path, so the client's `firebase/*` resolve in this app's node_modules
            "--preserve-symlinks",
            f"--metafile={out / 'meta.json'}",
            f"--outfile={out / 'app.js'}",
            "--log-level=warning",
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr  # an unresolved import is an error in a bundle build
    assert build.stderr == "", build.stderr  # and no warning either
    meta: dict[str, object] = json.loads((out / "meta.json").read_text())
    return out / "app.js", meta


def test_the_bundle_inlines_the_client_and_one_sdk(bundle: tuple[Path, dict[str, object]]) -> None:
    _, meta = bundle
    inputs = meta["inputs"]
    assert isinstance(inputs, dict)
    assert "node_modules/@storyrec/client/storyrec-client.js" in inputs  # through the installed dependency
    assert "app.js" in inputs
    # every other input is the app's own SDK copy: no second firebase from outside the app
    others = set(inputs) - {"app.js", "node_modules/@storyrec/client/storyrec-client.js"}
    assert others and all(p.startswith("node_modules/") for p in others), sorted(others)
    assert any(p.startswith("node_modules/@firebase/firestore/") for p in others)
    outputs = meta["outputs"]
    assert isinstance(outputs, dict) and len(outputs) == 1
    (output,) = outputs.values()
    assert output["imports"] == []  # nothing left for the browser to resolve
    assert module_exports() <= set(output["exports"])  # the module's whole API survives bundling
    assert len(module_exports()) >= 5


def test_the_bundle_constructs_the_client_for_the_emulator_project(bundle: tuple[Path, dict[str, object]]) -> None:
    built, _ = bundle
    run = subprocess.run(
        ["node", str(HERE / "run.mjs"), built.as_uri(), emulators.PROJECT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(out["exports"]) == module_exports() | {"start"}
    assert out["start"] == {
        "isClient": True,
        "projectId": emulators.PROJECT,
        "sameFirestore": True,
        "sameAuth": True,
        "sameFunctions": True,
        "device": "bundle-check",
        "sessionId": "bundle-session",
        "signedOut": "storyrec: no reader is signed in",
        "parsed": ["a"],
    }


def test_an_app_type_checks_against_the_declarations(installed: Path) -> None:
    run = subprocess.run(
        [str(BIN / "tsc"), "-p", "tsconfig.json"], cwd=HERE, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr  # incl. the @ts-expect-error lines of check.ts


def test_the_app_pins_the_sdk_the_client_names() -> None:
    package = json.loads((HERE / "package.json").read_text())
    peer = json.loads((REPO / "client" / "package.json").read_text())["peerDependencies"]["firebase"]
    assert package["dependencies"]["firebase"] == peer
    assert package["dependencies"]["@storyrec/client"] == "file:../../client"
    lock = json.loads((HERE / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@storyrec/client"] == {"resolved": "../../client", "link": True}
