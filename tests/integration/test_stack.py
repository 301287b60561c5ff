"""The stack manager: status, env, a missing emulator, and clean shutdown with no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local import processes
from infra.local import stack as stack_mod
from infra.local.cli import app
from infra.local.stack import LocalStack, StackError

pytestmark = pytest.mark.integration


def _pids_alive(pids: list[int]) -> list[int]:
    """Those still running (a zombie waiting for init to reap it is not)."""
    return [pid for pid in pids if (found := processes.identity(pid)) is not None and not found.zombie]


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


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_engine_follows_moto_to_its_new_port(tmp_path: Path) -> None:
    local = LocalStack(tmp_path)
    local.up(("moto", "personalize"))
    try:
        before = local._load()
        old_moto, old_engine = before["moto"], before["personalize"]
        assert old_engine.depends == {"moto": old_moto.port}
        assert _environ(old_engine.pid)["AWS_ENDPOINT_URL_S3"] == old_moto.url
        os.killpg(old_moto.proof.pgid, signal.SIGKILL)  # moto dies under the engine
        processes.stop(old_moto.proof)  # reap it
        status = local.status()
        assert status["moto"].startswith("down")
        assert status["personalize"].startswith("unhealthy") and "moto" in status["personalize"]
        assert CliRunner().invoke(app, ["stack", "status", "--state-dir", str(tmp_path)]).exit_code == 1
        lines: list[str] = []
        env = local.up(("moto",), log=lines.append)  # only moto asked for: the engine must follow anyway
        after = local._load()
        assert after["moto"].port != old_moto.port
        assert any(line.startswith("personalize: restarting") for line in lines)
        assert after["personalize"].depends == {"moto": after["moto"].port}
        assert _environ(after["personalize"].pid)["AWS_ENDPOINT_URL_S3"] == env["AWS_ENDPOINT_URL_S3"]
        assert _pids_alive([old_engine.pid]) == []
        assert all(s.startswith("healthy") for n, s in local.status().items() if n in ("moto", "personalize"))
    finally:
        local.down()


def test_down_never_kills_a_recorded_pid_that_now_belongs_to_someone_else(tmp_path: Path) -> None:
    local = LocalStack(tmp_path)
    local.up(("moto",))
    moto = local._load()["moto"]
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # the state file now names the stranger's pid, as if moto had died and its number been reused
        raw = json.loads(local.state_file.read_text())
        raw["moto"]["proof"]["pid"] = raw["moto"]["proof"]["pgid"] = stranger.pid
        raw["moto"]["proof"]["members"] = []
        local.state_file.write_text(json.dumps(raw))
        assert local.status()["moto"].startswith("down")
        lines: list[str] = []
        local.down(log=lines.append)
        assert stranger.poll() is None, "a process we did not start was signalled"
        assert lines == [f"moto: not ours: left alone (pid {stranger.pid})"]
    finally:
        stranger.kill()
        stranger.wait()
        processes.stop(moto.proof)
    assert _pids_alive([moto.pid]) == []


def test_a_corrupt_state_file_is_a_clear_error_with_a_way_out(tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    (tmp_path / "stack.json").write_text('{"moto": {"pid": 12')
    for command in (["stack", "status"], ["stack", "down"], ["stack", "env"], ["stack", "up", "-s", "moto"]):
        result = runner.invoke(app, [*command, *state])
        assert result.exit_code == 1, (command, result.output)
        assert isinstance(result.exception, SystemExit)  # no traceback
        assert "unreadable" in result.output and "storyrec-dev stack down --forget" in result.output
    forgot = runner.invoke(app, ["stack", "down", "--forget", *state])
    assert forgot.exit_code == 0, forgot.output
    assert not (tmp_path / "stack.json").exists() and list(tmp_path.glob("stack.json.forgotten-*"))
    assert runner.invoke(app, ["stack", "status", *state]).exit_code == 0


def test_a_state_file_of_the_wrong_shape_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"moto": {"name": "moto", "pid": 1, "port": 1, "url": "u"}}))
    with pytest.raises(StackError, match="unreadable"):
        LocalStack(tmp_path).down()
    assert (tmp_path / "stack.json").exists()
