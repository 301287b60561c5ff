"""The reference homepage as Firebase Hosting serves it: ``hosting/`` plus ``lib/`` (the client module and the
Firebase JS SDK's browser builds, copied from the pinned npm package: the page never loads code from a CDN).

The emulator suite builds a whole copy per run, with a ``storyrec-config.json`` naming its ports.
``python -m infra.local.firebase.site`` fills ``hosting/`` in place (``lib/`` and a config naming firebase.json's
emulator ports, both gitignored), for ``firebase emulators:start`` run by hand from the repository.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from infra.local.stack import LOCAL_PROJECT

REPO_ROOT = Path(__file__).resolve().parents[3]
HOSTING = REPO_ROOT / "hosting"
CLIENT = REPO_ROOT / "client"
SDK = REPO_ROOT / "tests" / "rules" / "node_modules" / "firebase"
"""The `firebase` npm package setup.sh installs (tests/rules' lockfile pins it to the client's peer version)."""
SDK_FILES = ("firebase-app.js", "firebase-auth.js", "firebase-firestore.js", "firebase-functions.js")
CONFIG = "storyrec-config.json"


def sdk_version() -> str:
    """The Firebase JS SDK version the client module names as its peer dependency."""
    return str(json.loads((CLIENT / "package.json").read_text())["peerDependencies"]["firebase"])


def fill_lib(dest: Path, sdk: Path = SDK) -> None:
    """Copy the client module and the SDK's browser builds into ``dest/lib``; refuse an SDK of another version."""
    installed = json.loads((sdk / "package.json").read_text())["version"] if (sdk / "package.json").exists() else None
    if installed != sdk_version():
        raise FileNotFoundError(f"firebase {sdk_version()} is not installed in {sdk} (found {installed}): run setup.sh")
    lib = dest / "lib"
    (lib / "firebase").mkdir(parents=True, exist_ok=True)
    shutil.copy2(CLIENT / "storyrec-client.js", lib / "storyrec-client.js")
    for name in SDK_FILES:
        shutil.copy2(sdk / name, lib / "firebase" / name)


def build(dest: Path, config: Mapping[str, object] | None = None) -> Path:
    """A complete copy of the site in ``dest`` (its ``lib`` filled), with ``config`` as its storyrec-config.json."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in HOSTING.iterdir():
        if path.is_file():
            shutil.copy2(path, dest / path.name)
    fill_lib(dest)
    if config is not None:
        (dest / CONFIG).write_text(json.dumps(config, indent=2))
    return dest


def import_map_sdk_version(index: Path = HOSTING / "index.html") -> set[str]:
    """The SDK versions the page's import map names in the CDN address it redirects (for the version check)."""
    return set(re.findall(r"firebasejs/([0-9.]+)/", index.read_text()))


CLIENT_EMULATORS = ("auth", "firestore", "functions")
"""The emulators the page's SDK talks to."""


def local_config(hosts: Mapping[str, str]) -> dict[str, object]:
    """storyrec-config.json for the local project, ``hosts`` giving each emulator's ``host:port``."""
    app = {"projectId": LOCAL_PROJECT, "apiKey": "fake-api-key", "appId": "storyrec-local"}
    return {"firebase": app, "emulators": {name: hosts[name] for name in CLIENT_EMULATORS if name in hosts}}


def repo_emulators_config(firebase_json: Path = REPO_ROOT / "firebase.json") -> dict[str, object]:
    """storyrec-config.json for the emulator ports firebase.json names."""
    emulators = json.loads(firebase_json.read_text())["emulators"]
    return local_config({name: f"{emulators[name]['host']}:{emulators[name]['port']}" for name in CLIENT_EMULATORS})


if __name__ == "__main__":
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else HOSTING
    fill_lib(dest)
    (dest / CONFIG).write_text(json.dumps(repo_emulators_config(), indent=2))
    print(f"filled {dest / 'lib'} and wrote {dest / CONFIG}")
