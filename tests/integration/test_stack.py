"""The stack manager: status, env, a missing emulator, and clean shutdown with no orphans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local import stack as stack_mod
from infra.local.cli import app
from infra.local.stack import LocalStack, StackError

pytestmark = pytest.mark.integration


def _pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def test_up_status_env_down_leaves_no_process(tmp_path: Path) -> None:
    local = LocalStack(tmp_path)
    env = local.up(("moto", "firestore"))
    try:
        assert env["FIRESTORE_EMULATOR_HOST"].startswith("127.0.0.1:")
        assert env["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
        status = local.status()
        assert status["firestore"].startswith("healthy") and status["moto"].startswith("healthy")
        assert status["pubsub"] == "down"
        # the emulator's java runs as a child of its launcher script: the whole group must go
        firestore_pid = int(status["firestore"].split("pid=")[1].split()[0])
        members = _group_members(firestore_pid)
        assert "java" in {Path(f"/proc/{pid}/comm").read_text().strip() for pid in members}
        again = local.up(("moto", "firestore"))  # idempotent: reuses the healthy services
        assert again["FIRESTORE_EMULATOR_HOST"] == env["FIRESTORE_EMULATOR_HOST"]
    finally:
        local.down()
    assert _pids_alive(members) == []
    assert all(v == "down" for v in local.status().values())


def test_missing_emulator_is_reported_with_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_mod, "GCLOUD_PLATFORM", tmp_path / "no-sdk")
    with pytest.raises(StackError, match="gcloud components install cloud-firestore-emulator"):
        LocalStack(tmp_path / "state").up(("firestore",))


def test_cli_stack_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    try:
        up = runner.invoke(app, ["stack", "up", "-s", "moto", *state])
        assert up.exit_code == 0, up.output
        assert "export AWS_ENDPOINT_URL_S3=http://127.0.0.1:" in up.stdout
        status = runner.invoke(app, ["stack", "status", *state])
        assert status.exit_code == 0 and "healthy" in status.stdout
        env = runner.invoke(app, ["stack", "env", *state])
        assert "export AWS_ACCESS_KEY_ID=testing" in env.stdout
    finally:
        down = runner.invoke(app, ["stack", "down", *state])
    assert down.exit_code == 0
    after = runner.invoke(app, ["stack", "status", *state]).stdout
    assert "healthy" not in after and "down" in after


def test_a_service_that_never_gets_healthy_takes_the_half_started_stack_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = stack_mod.ServiceSpec(
        "broken", lambda port, state: ["sleep", "600"], "/", lambda: None, startup_timeout=2.0
    )
    monkeypatch.setitem(stack_mod.SERVICES, "broken", broken)
    monkeypatch.setattr(stack_mod, "START_ORDER", ("moto", "broken"))
    local = LocalStack(tmp_path)
    lines: list[str] = []
    with pytest.raises(StackError, match="broken did not become healthy"):
        local.up(("moto", "broken"), log=lines.append)
    started = [int(line.split("(pid ")[1].rstrip(")")) for line in lines if "healthy on port" in line]
    assert len(started) == 1  # moto came up before the broken service failed
    assert _pids_alive(started) == []
    assert not (tmp_path / "stack.json").exists()
    assert not any("sleep\x00600" in _cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit())


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text()
    except OSError:
        return ""
