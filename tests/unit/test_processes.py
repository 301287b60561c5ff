"""The process manager's proof: a recorded pid is signalled only while it is provably the one we started."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local import processes
from infra.local.processes import ProcessProof, Stopped

pytestmark = pytest.mark.unit


def _stat(pid: int, comm: str, state: str, pgid: int, start: int) -> str:
    # fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    # cutime cstime priority nice num_threads itrealvalue starttime ...
    rest = [
        state,
        "1",
        str(pgid),
        str(pgid),
        "0",
        "-1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "20",
        "0",
        "1",
        "0",
        str(start),
        "1000",
        "100",
    ]
    return f"{pid} ({comm}) " + " ".join(rest)


def _fake_proc(tmp_path: Path, *procs: tuple[int, str, str, int, int]) -> Path:
    for pid, comm, state, pgid, start in procs:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(_stat(pid, comm, state, pgid, start))
    return tmp_path


def test_identity_survives_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, (42, "evil) Z 1 2 (x", "S", 42, 777))
    found = processes.identity(42, proc)
    assert found == processes.Identity(pid=42, pgid=42, start_ticks=777, zombie=False)
    assert processes.identity(43, proc) is None


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (ProcessProof(100, 100, 5000, processes.boot_id()), 100),  # the leader, unchanged
        (ProcessProof(100, 100, 4999, processes.boot_id()), None),  # pid reused: another start time
        (ProcessProof(100, 99, 5000, processes.boot_id()), None),  # pid in another process group
        (ProcessProof(100, 100, 5000, "another-boot"), None),  # ticks restart at every boot
        (ProcessProof(101, 101, 1, processes.boot_id(), ((100, 5000),)), None),  # member now in group 100
        (ProcessProof(103, 102, 1, processes.boot_id(), ((102, 6000),)), 102),  # leader gone, java child stays
    ],
)
def test_owned_group_needs_pid_start_time_group_and_boot(
    tmp_path: Path, recorded: ProcessProof, expected: int | None
) -> None:
    proc = _fake_proc(tmp_path, (100, "moto", "S", 100, 5000), (102, "java", "S", 102, 6000))
    assert processes.owned_group(recorded, proc) == expected


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process we did not start through the manager, in its own group."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_recycled_pid_is_never_signalled(stranger: subprocess.Popen[bytes]) -> None:
    real = processes.prove(stranger.pid)
    forged_time = ProcessProof(real.pid, real.pgid, real.start_ticks - 1, real.boot_id)
    forged_group = ProcessProof(real.pid, os.getpgid(0), real.start_ticks, real.boot_id)
    assert processes.stop(forged_time, grace=0.5) is Stopped.NOT_OURS
    assert processes.stop(forged_group, grace=0.5) is Stopped.NOT_OURS
    assert stranger.poll() is None  # still running, never signalled


def test_a_proven_group_is_stopped_whole(tmp_path: Path) -> None:
    started = processes.start(["sh", "-c", "sleep 300 & sleep 300 & wait"], log=tmp_path / "log")
    proof = processes.wait_ready(started, lambda: len(processes.group_members(started.proof.pgid)) == 3, 10, "sh")
    assert len(proof.members) == 3
    assert processes.stop(proof, grace=5) is Stopped.STOPPED
    assert processes.group_members(proof.pgid) == []
    assert processes.stop(proof) is Stopped.GONE


def test_a_service_that_never_gets_ready_is_stopped_and_its_log_quoted(tmp_path: Path) -> None:
    started = processes.start(["sh", "-c", "echo booting; sleep 300"], log=tmp_path / "log")
    with pytest.raises(processes.ProcessError, match=r"(?s)did not become ready.*booting"):
        processes.wait_ready(started, lambda: False, 1.0, "svc")
    assert processes.group_members(started.proof.pgid) == []


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"pid": "12", "pgid": 12, "start_ticks": 1, "boot_id": "b"},
        {"pid": -1, "pgid": 12, "start_ticks": 1, "boot_id": "b"},
        {"pid": 12, "pgid": 12, "start_ticks": 1, "boot_id": "b", "members": "all"},
        {"pid": 12, "pgid": 12, "start_ticks": 1, "boot_id": "b", "members": [[1]]},
    ],
)
def test_a_malformed_proof_is_rejected(raw: dict[str, object]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        ProcessProof.from_json(raw)
