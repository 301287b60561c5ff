"""Start local services in their own process group and stop only what can be proven ours.

A pid alone proves nothing: once a process exits, the kernel may hand its number to anything else.
So every start records a :class:`ProcessProof`: the leader's pid, its process group, its start time
(clock ticks since boot, from ``/proc/<pid>/stat``), the boot it happened in, and the group members
seen once the service was ready (an emulator's launcher script may exit and leave its java child).
A process group is signalled only while the leader, or one of those members, still matches all of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class ProcessError(RuntimeError):
    """A process did not start, or did not become ready in time."""


@dataclass(frozen=True)
class Identity:
    """What ``/proc/<pid>/stat`` says about a live process."""

    pid: int
    pgid: int
    start_ticks: int
    zombie: bool


@dataclass(frozen=True)
class ProcessProof:
    """Enough to tell, later and from another process, that a process group is the one we started."""

    pid: int
    pgid: int
    start_ticks: int
    boot_id: str
    members: tuple[tuple[int, int], ...] = field(default=())
    """(pid, start ticks) of the group's members when the service became ready."""

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> ProcessProof:
        """Rebuild a proof from its JSON form; raise ValueError/TypeError/KeyError when it is malformed."""
        members = raw.get("members", [])
        if not isinstance(members, list):
            raise TypeError("members must be a list")
        return cls(
            pid=_positive(raw["pid"]),
            pgid=_positive(raw["pgid"]),
            start_ticks=_positive(raw["start_ticks"]),
            boot_id=str(raw["boot_id"]),
            members=tuple((_positive(pid), _positive(ticks)) for pid, ticks in members),
        )


def _positive(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return value


def boot_id() -> str:
    """This boot's id: start ticks restart from zero at every boot."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return "unknown"


def identity(pid: int, proc: Path = Path("/proc")) -> Identity | None:
    """The process ``pid`` as the kernel sees it now, or None when there is none."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return Identity(pid=pid, pgid=int(fields[2]), start_ticks=int(fields[19]), zombie=fields[0] == "Z")


def group_members(pgid: int, proc: Path = Path("/proc")) -> list[Identity]:
    """Every live process whose process group is ``pgid``."""
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                found = identity(int(entry.name), proc)
            except (OSError, IndexError, ValueError):
                continue
            if found is not None and found.pgid == pgid and not found.zombie:
                members.append(found)
    return members


def prove(pid: int) -> ProcessProof:
    """The proof for a process we just started as the leader of its own group."""
    found = identity(pid)
    if found is None:
        raise ProcessError(f"process {pid} exited before it could be recorded")
    return ProcessProof(pid, found.pgid, found.start_ticks, boot_id())


def with_members(proof: ProcessProof) -> ProcessProof:
    """The proof plus the group's current members (call once the service is ready)."""
    if owned_group(proof) is None:
        return proof
    members = tuple(sorted((m.pid, m.start_ticks) for m in group_members(proof.pgid)))
    return ProcessProof(proof.pid, proof.pgid, proof.start_ticks, proof.boot_id, members)


def owned_group(proof: ProcessProof, proc: Path = Path("/proc")) -> int | None:
    """The process group to signal if it is provably ours, else None.

    Ours means: same boot, and the leader or a recorded member still exists with the recorded start time
    and the recorded group (a zombie counts: it still holds its pid, so the group id cannot have been
    reused), and something in that group is still running. A pid now used by another process (other
    start time or group) proves nothing.
    """
    if proof.boot_id != boot_id():
        return None
    for pid, ticks in ((proof.pid, proof.start_ticks), *proof.members):
        found = identity(pid, proc)
        if found is not None and found.start_ticks == ticks and found.pgid == proof.pgid:
            return proof.pgid if group_members(proof.pgid, proc) else None
    return None


class Stopped(StrEnum):
    """What :func:`stop` did."""

    STOPPED = "stopped"
    GONE = "already gone"
    NOT_OURS = "not ours: left alone"


def stop(proof: ProcessProof, grace: float = 10.0) -> Stopped:
    """SIGTERM our process group, SIGKILL what is left after ``grace`` seconds. Never signals a stranger."""
    pgid = owned_group(proof)
    if pgid is None:
        _reap(proof.pid)
        leader = identity(proof.pid)
        return Stopped.GONE if leader is None or leader.zombie else Stopped.NOT_OURS
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(proof.pid)
            if not group_members(pgid):
                _reap(proof.pid)  # it may have turned zombie after the first look
                return Stopped.STOPPED
            time.sleep(0.1)
    _reap(proof.pid)
    return Stopped.STOPPED


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op for anyone else's)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Started:
    """A process we launched, with its proof and where its output goes."""

    process: subprocess.Popen[bytes]
    proof: ProcessProof
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def start(
    command: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    append: bool = True,
) -> Started:
    """Launch ``command`` as the leader of a new session (its own process group), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab" if append else "wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    try:
        proof = prove(process.pid)
    except ProcessError:
        process.wait()
        tail = log.read_text(errors="replace")[-3000:]
        raise ProcessError(f"{command[0]} exited at once; log {log}:\n{tail}") from None
    return Started(process, proof, log)


def wait_ready(started: Started, ready: Callable[[], bool], timeout: float, what: str) -> ProcessProof:
    """Wait until ``ready()``; return the proof with the group's members. On failure stop it and raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            break
        if ready():
            return with_members(started.proof)
        time.sleep(0.2)
    stop(started.proof)
    started.process.poll()
    raise ProcessError(f"{what} did not become ready in {timeout:.0f}s; log {started.log}:\n{started.tail()}")
