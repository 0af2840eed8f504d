"""A real, single-node Apache Kafka broker (KRaft) run from Maven Central jars, no Docker.

The jars are listed in ``deploy/local/kafka/pom.xml`` and copied once into a cache outside the
work tree (``~/.cache/jobcast/kafka-<version>/libs``, or ``$JOBCAST_CACHE_DIR``). The broker
runs detached (its own session, pid file in the data dir) so ``make up`` can start it from one
process and ``make down`` can stop it from another.

Data dir layout::

    server.properties   rewritten on every start (ports may change between starts)
    kraft/              log.dirs: formatted once, reused on restart
    logs/server.log     the broker's own log4j2 log (INFO)
    kafka.out           the JVM's stdout/stderr (WARN and above, JVM crashes)
    kafka.pid           pid of the running broker
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from devtools.devstack.ports import port_open

# Newest Kafka release whose full dependency set resolves on Maven Central and that runs on
# Java 17. Keep equal to <kafka.version> in deploy/local/kafka/pom.xml.
KAFKA_VERSION = "4.3.1"

_DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka"
_POM = _DEPLOY_DIR / "pom.xml"
_LOG4J_CONFIG = _DEPLOY_DIR / "log4j2.xml"
_MARKER = ".complete"
_HOST = "127.0.0.1"

_T = TypeVar("_T")


def cache_root() -> Path:
    """Return the jobcast cache dir: ``$JOBCAST_CACHE_DIR`` or ``~/.cache/jobcast``."""
    override = os.environ.get("JOBCAST_CACHE_DIR")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "jobcast"


def ensure_kafka_jars() -> Path:
    """Make sure the broker's jars are in the cache and return the ``libs`` dir.

    Idempotent: a marker file holding the pom's hash is written after a successful copy, so a
    complete cache costs one file read and an edited pom triggers a fresh copy. A file lock
    keeps concurrent callers (e.g. pytest-xdist workers) from copying at the same time.
    """
    if not _POM.is_file():
        raise RuntimeError(f"Kafka pom not found at {_POM} (is jobcast installed from a checkout?)")
    base = cache_root() / f"kafka-{KAFKA_VERSION}"
    libs = base / "libs"
    marker = base / _MARKER
    want = hashlib.sha256(_POM.read_bytes()).hexdigest()
    if _marker_matches(marker, want):
        return libs
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _marker_matches(marker, want):  # another process finished while we waited
            return libs
        _copy_jars(base, libs)
        marker.write_text(want + "\n")
    return libs


def _marker_matches(marker: Path, want: str) -> bool:
    try:
        return marker.read_text().strip() == want and (marker.parent / "libs").is_dir()
    except OSError:
        return False


def _copy_jars(base: Path, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed to fetch the Kafka jars; install it first")
    # Copy into a scratch dir and swap it in, so a failed or interrupted copy never looks done.
    staging = base / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(_POM), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()
        raise RuntimeError("mvn could not fetch the Kafka jars:\n" + "\n".join(out[-30:]))
    # Guard against the pom and KAFKA_VERSION drifting apart, or a missing log binding.
    for jar in (f"kafka_2.13-{KAFKA_VERSION}.jar", "log4j-slf4j-impl-"):
        if not any(p.name.startswith(jar) for p in staging.glob("*.jar")):
            raise RuntimeError(f"{_POM} did not yield {jar}*; is it pinned to {KAFKA_VERSION}?")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} missing)"
    return "\n".join(text.splitlines()[-lines:])


def _new_cluster_id() -> str:
    # KRaft wants a 22-char base64url UUID; the reference tool also avoids a leading '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class LocalKafka:
    """One combined broker+controller KRaft node listening on 127.0.0.1 only."""

    def __init__(self, data_dir: Path, port: int, controller_port: int, heap_mb: int = 512):
        """Describe a broker; nothing runs until :meth:`start`."""
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap_mb = heap_mb
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"{_HOST}:{self.port}"

    @property
    def _props(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _log_dirs(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def _logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def _out(self) -> Path:
        return self.data_dir / "kafka.out"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def pid(self) -> int | None:
        """Pid of the running broker (from the pid file), or None if it is not running."""
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    def is_running(self) -> bool:
        """Return True if the broker recorded in this data dir's pid file is alive."""
        return self.pid is not None

    def start(self, timeout: float = 90.0) -> str:
        """Start the broker (formatting fresh storage if needed) and wait until it serves.

        Returns the bootstrap servers string. Readiness means an admin describe-cluster call
        answers with this data dir's cluster id and at least one registered broker.
        If the broker is already running from this data dir, only readiness is awaited.
        """
        deadline = time.monotonic() + timeout
        if self.is_running():
            # Fail fast instead of waiting out the timeout on a port nobody will open.
            if f"PLAINTEXT://{self.bootstrap_servers}," not in self._props.read_text():
                raise RuntimeError(
                    f"a broker from {self.data_dir} already runs on other ports; stop it first"
                )
        else:
            libs = ensure_kafka_jars()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._logs.mkdir(exist_ok=True)
            self._write_properties()
            if not (self._log_dirs / "meta.properties").exists():
                self._format(libs)
            self._spawn(libs)
        self._wait_ready(deadline, timeout)
        return self.bootstrap_servers

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM for a clean shutdown, SIGKILL if it outlasts ``timeout``.

        Works from any process, since it goes by the pid file. No-op if nothing is running.
        """
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not self._wait_gone(pid, 10.0):
                    raise RuntimeError(f"Kafka broker pid {pid} survived SIGKILL")
        self._pid_file.unlink(missing_ok=True)
        self._proc = None

    # -- internals -------------------------------------------------------------------------

    def _java(self, libs: Path) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java (17+) is needed to run the Kafka broker")
        # What kafka-run-class.sh would add; the scripts are not used, so it is spelled out.
        return [
            java,
            f"-Xms{self.heap_mb}m",
            f"-Xmx{self.heap_mb}m",
            # The client compiler only: a broker that lives for a test run or a bench on two
            # cores spends more CPU in C2 compiling its hot paths than C2's faster code saves
            # it (docs/performance.md); a long-lived production broker is not started here.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self._logs}",
            f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
            "-cp",
            str(libs / "*"),  # a literal wildcard for the JVM: no shell expands it
        ]

    def _write_properties(self) -> None:
        c = f"{_HOST}:{self.controller_port}"
        p = f"{_HOST}:{self.port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static voters (not --standalone's dynamic quorum): the controller port may then
            # change between restarts of an already formatted dir.
            "controller.quorum.voters": f"1@{c}",
            "listeners": f"PLAINTEXT://{p},CONTROLLER://{c}",
            "advertised.listeners": f"PLAINTEXT://{p}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._log_dirs),
            # Defaults assume 3 brokers (RF 3, 50 partitions); one node cannot serve those.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "num.partitions": "1",
            # Tests join groups constantly; the default 3 s delay would dominate their runtime.
            "group.initial.rebalance.delay.ms": "0",
            # Topics are declared explicitly; a typo must fail, not create a topic.
            "auto.create.topics.enable": "false",
            # Two cores: fewer threads than the defaults (3 network, 8 io) is plenty.
            "num.network.threads": "2",
            "num.io.threads": "4",
            # The controller appends a no-op record to the metadata log this often so that
            # readers can tell the log is live (default 500 ms); each one is written, read
            # back and applied by this same node, a cost an idle broker paid all the time.
            "metadata.max.idle.interval.ms": "5000",
        }
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        self._props.write_text("# written by devtools.devstack.kafka; edits are lost\n" + text)

    def _format(self, libs: Path) -> None:
        cmd = [
            *self._java(libs),
            "kafka.tools.StorageTool", "format",
            "-t", _new_cluster_id(), "-c", str(self._props),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            raise RuntimeError(f"formatting Kafka storage in {self._log_dirs} failed:\n{out}")

    def _spawn(self, libs: Path) -> None:
        cmd = [*self._java(libs), "kafka.Kafka", str(self._props)]
        with self._out.open("ab") as out:
            # Own session: Ctrl+C in the caller's terminal or its exit must not stop the broker.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._proc.pid}\n")

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        cluster_id = self._cluster_id()
        last_error = "broker port never opened"
        while time.monotonic() < deadline:
            if not self.is_running():
                self._pid_file.unlink(missing_ok=True)
                raise RuntimeError(f"Kafka broker exited during startup.\n{self._log_tails()}")
            if port_open(_HOST, self.port):
                try:
                    found = _run_async(_describe_cluster(self.bootstrap_servers))
                except Exception as exc:  # not ready yet: connection refused, timeouts...
                    last_error = f"admin call failed: {exc!r}"
                else:
                    if found == cluster_id:
                        return
                    last_error = f"port {self.port} serves cluster {found}, not {cluster_id}"
            time.sleep(0.2)
        raise RuntimeError(
            f"Kafka broker not ready after {timeout:.0f}s ({last_error}).\n{self._log_tails()}"
        )

    def _cluster_id(self) -> str | None:
        try:
            text = (self._log_dirs / "meta.properties").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def _log_tails(self) -> str:
        # Java stack traces bury the cause; pull the ERROR and "Caused by" lines out first.
        try:
            lines = self._out.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        key = [ln for ln in lines if " ERROR " in ln or ln.startswith("Caused by:")][-8:]
        return (
            "--- key lines ---\n" + "\n".join(key) + "\n"
            f"--- {self._out} ---\n{_tail(self._out)}\n"
            f"--- {self._logs / 'server.log'} ---\n{_tail(self._logs / 'server.log')}"
        )

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # also reaps our own exited child
        return _process_alive(pid, (b"kafka.Kafka", bytes(self._props)))

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def _process_alive(pid: int, markers: tuple[bytes, ...]) -> bool:
    """True if ``pid`` runs and its command line holds all ``markers`` (guards pid reuse)."""
    proc_dir = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # not Linux: best effort, no pid-reuse guard
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        stat = (proc_dir / "stat").read_text()
        cmdline = (proc_dir / "cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return False  # exited, waiting to be reaped by whoever is its parent now
    # An empty cmdline means it is still tearing down (the kernel drops it before the pid).
    return not cmdline or all(m in cmdline for m in markers)


async def _describe_cluster(bootstrap: str) -> str | None:
    """Return the cluster id if the broker answers and has registered itself, else raise."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        info = await admin.describe_cluster()
    finally:
        await admin.close()
    if not info.get("brokers"):
        raise RuntimeError("no broker registered yet")
    cluster_id: str | None = info.get("cluster_id")
    return cluster_id


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a private loop in a helper thread.

    ``start()`` is synchronous but may be called from inside a running event loop (an async
    test or CLI), where ``asyncio.run`` is not allowed; a thread sidesteps that.
    """
    result: list[_T] = []
    error: list[BaseException] = []

    def runner() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=runner, name="kafka-readiness", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
