"""CPU time of processes from /proc, and which process listens on a TCP port.

The bench attributes machine CPU to the processes of its private stack: the services and
the sandbox by pid, Kafka and the postmaster by the port they listen on, Postgres's
backends as the postmaster's children.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    ticks: int  # utime + stime, all threads
    child_ticks: int  # cutime + cstime: children it has waited for (exited backends)

    @property
    def seconds(self) -> float:
        return self.ticks / CLOCK_TICKS


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command (field 2) may hold spaces and parentheses,
    so the fields after it are counted from its last `)`."""
    head, _, rest = text.rpartition(")")
    if not head:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcStat(pid, int(fields[1]), utime + stime, cutime + cstime)


def read_stat(pid: int) -> ProcStat | None:
    """The process's counters now; None if it has exited."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError):
        return None


def all_stats() -> list[ProcStat]:
    """Every process's counters (those that exit while being read are skipped)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := read_stat(int(entry))) is not None:
            found.append(stat)
    return found


def listening_inodes(net_tcp: str, port: int) -> set[int]:
    """Socket inodes listening on `port`, from the text of /proc/net/tcp or tcp6."""
    inodes = set()
    for line in net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == _LISTEN:
            inodes.add(int(fields[9]))
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process holding a listening socket on `port` (needs the right to read its fds)."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= listening_inodes(Path(table).read_text(), port)
        except OSError:
            continue
    wanted = {f"socket:[{inode}]" for inode in inodes}
    if not wanted:
        return None
    for entry in os.listdir("/proc"):
        if entry.isdigit() and wanted & _open_files(int(entry)):
            return int(entry)
    return None


def _open_files(pid: int) -> set[str]:
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):  # closed while we look
                found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


def tree_ticks(roots: Iterable[int], stats: Iterable[ProcStat]) -> int:
    """CPU ticks of the process trees under `roots`: each process's own and its waited-for
    children's. A child that exits moves its ticks into its parent's child ticks, so the sum
    only grows while the trees live, and two readings give their CPU in between (Postgres
    backends and prefork children included; not a process that left the tree)."""
    by_pid = {s.pid: s for s in stats}
    children: dict[int, list[int]] = {}
    for stat in by_pid.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in by_pid]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return sum(by_pid[pid].ticks + by_pid[pid].child_ticks for pid in seen)
