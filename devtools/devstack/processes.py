"""Starting and stopping the project's own Python processes (services, sandbox) detached.

Each process gets a pid file and a log file under a state dir, so `make down` (or a
test session's teardown) can stop what `make up` started, from any shell.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# The checkout this package runs from: devtools is not installed, so a child started with
# `python -m devtools...` finds it through PYTHONPATH whatever its working directory.
CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass
class ManagedProcess:
    """A `python -m MODULE` process with its own environment, pid file and log."""

    name: str
    module: str
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    # A command the interpreter runs under, e.g. valgrind for instruction counts.
    launcher: list[str] = field(default_factory=list)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """The recorded pid if that process is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """Spawn the process (unless it already runs) in its own session."""
        if self.pid is not None:
            return
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [*self.launcher, sys.executable, "-m", self.module, *self.args],
                env={**os.environ, "PYTHONPATH": _with_checkout(os.environ), **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives `make up`; a Ctrl-C there does not reach it
            )
        self.pid_file.write_text(str(process.pid))

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        """Poll `url` until it answers 200; fail early (with the log tail) if the process died."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.pid is None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            try:
                answer = httpx.get(url, timeout=2.0)
            except httpx.HTTPError as exc:
                last = f"no answer ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    return
                # A readiness answer names the failing checks and why (never a secret).
                last = f"{answer.status_code} {answer.text[:2_000]}"
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} not ready after {timeout:.0f}s; last answer: {last}\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 20.0, *, kill: bool = False) -> None:
        """SIGTERM (graceful) or SIGKILL, then wait; escalate to SIGKILL after `timeout`."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def terminate(self) -> None:
        """SIGTERM without waiting: `stop` afterwards waits for the graceful exit."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our own exited child, so it does not linger as a zombie.
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie that is not our child still answers kill(0); ask /proc.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _with_checkout(environ: Mapping[str, str]) -> str:
    """PYTHONPATH with the checkout first (kept once; the rest as given)."""
    given = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([str(CHECKOUT), *(p for p in given if p != str(CHECKOUT))])


def stop_all(processes: list[ManagedProcess], timeout: float = 20.0) -> None:
    """Stop them together: each drains its consumers at the same time as the others, so
    stopping them all takes as long as the slowest, not the sum."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop(timeout)
