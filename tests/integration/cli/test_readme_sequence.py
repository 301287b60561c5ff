"""README's "Operating" section, command by command, on a fresh local stack (issue 20).

The stack is started as the README says (``storyrec-dev stack up --state-dir DIR`` and its ``eval``),
then every ``storyrec`` line of the section runs, in order, as a subprocess: each does its job or
refuses in at most two lines naming what is missing and how to fix it, and none prints a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.cli import app

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
LOG_LINE = re.compile(r'^\{"time"')  # the structured log records the stages write to stderr

# what each command does on a fresh, empty stack: exit code and the words its answer must hold
EXPECTED: dict[str, tuple[int, str]] = {
    "bootstrap --dry-run": (0, "plan"),
    "bootstrap": (0, "bootstrap"),
    "rebuild": (1, "no export manifest"),
    "backfill all": (0, "backfill"),
    "backfill readers": (0, "marked complete"),
    "export --history": (3, "run `storyrec backfill all` first"),
    "export": (2, "no interactions have been captured yet"),
    "import": (1, "run `storyrec export` first"),
    "evaluate": (1, "run `storyrec export` first"),
    "train": (1, "too few interactions to train: 0 exported, Personalize needs at least 1000"),
    "promote": (1, "no version was held"),
    "recommend": (1, "`storyrec train`, `storyrec promote`"),
    "feeds refresh": (0, "users"),
    "status": (0, "no manifest yet"),
    "report": (0, "kB"),
    "publish-dataset": (1, "no export manifest"),
}


def readme_commands(tmp: Path) -> list[tuple[dict[str, str], list[str]]]:
    """The section's ``storyrec`` lines, placeholders filled: (extra environment, argv after ``storyrec``)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Operating", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    yesterday = f"{datetime.now(UTC).date() - timedelta(days=1)}"
    out = []
    for line in block.splitlines():
        command = line.split("#", 1)[0].replace("[--user UID]", "").replace("UID", "u1")
        words = shlex.split(command)
        if ".venv/bin/storyrec" not in words:
            continue
        at = words.index(".venv/bin/storyrec")
        env = dict(w.split("=", 1) for w in words[:at])
        env = {k: ("k" * 40 if v == "..." else v) for k, v in env.items()}
        args = [re.sub(r"^\d{4}-\d\d-\d\d$", yesterday, w) for w in words[at + 1 :]]
        args = [str(tmp / w) if w in ("report.html", "release/") else w for w in args]
        out.append((env, args))
    return out


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = tmp_path / "stack"
    up = subprocess.run(
        [BIN / "storyrec-dev", "stack", "up", "--state-dir", state], capture_output=True, text=True, timeout=300
    )
    try:
        assert up.returncode == 0, up.stderr
        assert f'eval "$(storyrec-dev stack env --state-dir {state})"' in up.stderr
        assert "import bucket s3://storyrec-import: created" in up.stderr
        assert "backup bucket gs://storyrec-backup: created" in up.stderr
        env = subprocess.run(
            [BIN / "storyrec-dev", "stack", "env", "--state-dir", state], capture_output=True, text=True, check=True
        ).stdout
        exports = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in env.splitlines())
        yield exports
    finally:
        subprocess.run([BIN / "storyrec-dev", "stack", "down", "--state-dir", state], capture_output=True, timeout=120)


def test_every_command_is_in_the_readme(tmp_path: Path) -> None:
    import typer.main

    listed = {args[0] for _, args in readme_commands(tmp_path)}
    group = typer.main.get_command(app)
    assert set(group.commands) <= listed, set(group.commands) - listed  # type: ignore[attr-defined]


def test_the_readme_sequence_on_a_fresh_stack(stack_env: dict[str, str], tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STORYREC_", "GOOGLE_", "GCLOUD_"))}
    base.update(stack_env, PYTHONPATH=str(REPO), HOME=str(tmp_path), COLUMNS="200")
    seen = []
    for extra, args in readme_commands(tmp_path):
        key = " ".join(args[:2]) if " ".join(args[:2]) in EXPECTED else args[0]
        code, words = EXPECTED[key]
        done = subprocess.run(
            [BIN / "storyrec", *args], env={**base, **extra}, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        output = done.stdout + done.stderr
        assert "Traceback" not in output, (args, output)
        assert done.returncode == code, (args, output)
        assert words in output, (args, output)
        if code != 0:
            said = [line for line in done.stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]
            assert len(said) <= 2, (args, said)
        seen.append(key)
    assert seen == list(EXPECTED)  # every README line ran, in the README's order
