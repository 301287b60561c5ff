"""The client module loaded by Node the way a bundler resolves it: the bare `firebase/*` names through the
installed `firebase` package's exports. Its pure parts (the feed's parsing) run here too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "tests" / "rules" / "node_modules"

SCRIPT = r"""
import * as m from "./storyrec-client.js";
const items = JSON.stringify([
  { storyId: "a", score: 0.9, title: "A", url: "https://x/a", image: null, source: "s" },
  { storyId: "a", score: 0.8 },          // a duplicate: dropped
  { title: "no id" },                    // no storyId: dropped
  "junk",
  { storyId: "b", score: "high", title: 7 },
]);
const ts = { toDate: () => new Date(0) };
const out = {
  exports: Object.keys(m).sort(),
  parsed: m.parseItems(items),
  notJson: m.parseItems("[{"),
  notList: m.parseItems('{"storyId": "a"}'),
  missing: m.feedView("u", null),
  stale: m.feedView("u", { itemsJson: items, kind: "popular", stale: true, staleReason: "down", arm: "control",
                           recommendationId: null, attributionSource: "storyrec-popular", generatedAt: ts }),
  invented: m.feedView("u", { itemsJson: "[]", kind: "other", attributionSource: "mine", recommendationId: "" }),
};
console.log(JSON.stringify(out));
"""


def test_the_module_resolves_the_sdk_by_package_name_and_parses_feeds(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (SDK / "firebase").is_dir():
        pytest.fail("node and tests/rules/node_modules (infra/local/firebase/setup.sh) are required", pytrace=False)
    shutil.copy(REPO / "client" / "storyrec-client.js", tmp_path / "storyrec-client.js")
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "node_modules").symlink_to(SDK)
    (tmp_path / "check.mjs").write_text(SCRIPT)
    run = subprocess.run(["node", "check.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert {"StoryrecClient", "ImpressionTracker", "storyrec", "parseItems", "feedView"} <= set(out["exports"])
    parsed = out["parsed"]
    assert [s["storyId"] for s in parsed["stories"]] == ["a", "b"] and parsed["malformed"] is True
    assert parsed["stories"][1] == {
        "storyId": "b",
        "score": None,
        "title": "",
        "url": None,
        "image": None,
        "source": None,
    }
    assert out["notJson"] == {"stories": [], "malformed": True} == out["notList"]
    assert out["missing"]["exists"] is False and out["missing"]["stories"] == [] and out["missing"]["stale"] is False
    stale = out["stale"]
    assert stale["cold"] is True and stale["stale"] is True and stale["staleReason"] == "down"
    assert stale["arm"] == "control" and stale["attributionSource"] == "storyrec-popular"
    assert stale["recommendationId"] is None and stale["generatedAt"] == "1970-01-01T00:00:00.000Z"
    invented = out["invented"]  # values outside the contract are not passed on to clicks
    assert invented["kind"] is None and invented["attributionSource"] is None and invented["recommendationId"] is None
