"""A real local PostgreSQL cluster for the dev stack and integration tests, no Docker.

Layout: the cluster lives in ``data_dir`` (initdb'd once, reused on later starts); the server
log is ``data_dir/postgres.log``; the unix socket is in ``data_dir`` itself, so it cannot clash
with a system cluster and only the owning OS user can reach it.

Authentication (chosen for a dev/test cluster):
- unix socket: ``trust``. The socket sits in the 0700 data dir, so only the cluster's OS user
  (or root) can connect; that is how the bootstrap SQL runs without any password.
- TCP, 127.0.0.1 only: ``scram-sha-256``. Clients use role ``jobcast`` / password ``jobcast``.

PostgreSQL refuses to run as root, so as root every server-side command runs as the
``postgres`` OS user (``runuser``); as a normal user they run directly.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from devtools.devstack.ports import port_open

DB_NAME = "jobcast"
DB_USER = "jobcast"
# A well-known dev-only password for a loopback-only cluster; never use it anywhere else.
DB_PASSWORD = "jobcast"  # noqa: S105

_SUPERUSER = "postgres"
_HOST = "127.0.0.1"
_CONF = "jobcast.conf"
# A unix socket path (dir + "/.s.PGSQL.<port>") must fit sockaddr_un.sun_path (108 bytes).
_MAX_SOCKET_DIR = 90


def _has_server(bindir: Path) -> bool:
    return all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres", "psql"))


def _scan_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        # On Debian pg_config may come from libpq-dev and point at /usr/bin, which has no
        # initdb; so its answer only counts if the server binaries are really there.
        proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and _has_server(Path(proc.stdout.strip())):
            return Path(proc.stdout.strip())

    def major(path: str) -> float:
        m = re.search(r"/postgresql/(\d+(?:\.\d+)?)/bin$", path)
        return float(m.group(1)) if m else 0.0

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True):
        if _has_server(Path(candidate)):
            return Path(candidate)
    return None


def find_pg_bindir() -> Path:
    """Return the directory holding ``initdb``/``pg_ctl``/``postgres``/``psql``.

    Tries ``pg_config --bindir``, then the newest ``/usr/lib/postgresql/*/bin``. If neither has
    the server and we are root on a Debian-like system, installs ``postgresql`` with apt-get
    and looks again. Raises RuntimeError with what to do when that is not possible.
    """
    found = _scan_bindir()
    if found is not None:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
                raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{tail}")
        found = _scan_bindir()
        if found is not None:
            return found
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them, e.g. "
        "`sudo apt-get install -y postgresql`, or put pg_config on PATH."
    )


class LocalPostgres:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port`` only."""

    def __init__(self, data_dir: Path, port: int):
        """Describe a cluster; nothing runs until :meth:`start`."""
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self._as_root = os.geteuid() == 0
        self._bindir: Path | None = None

    @property
    def dsn(self) -> str:
        """The asyncpg/libpq DSN for the ``jobcast`` database over TCP."""
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@{_HOST}:{self.port}/{DB_NAME}"

    @property
    def log_file(self) -> Path:
        """The server log written by pg_ctl."""
        return self.data_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the cluster is running, else None."""
        if not self.is_running():
            return None
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        """Return True if a postmaster is running on this data dir (``pg_ctl status``)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        proc = self._run([self._bin("pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        return proc.returncode == 0

    def start(self, timeout: float = 60.0) -> str:
        """initdb if needed, start the server detached, ensure role+db exist; return the DSN.

        Idempotent: an already running cluster is only checked and bootstrapped again.
        """
        if len(str(self.data_dir)) > _MAX_SOCKET_DIR:
            raise RuntimeError(f"data dir path too long for a unix socket: {self.data_dir}")
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_conf()
        if not self.is_running():
            # pg_ctl daemonizes the postmaster, so it outlives us; -w waits until it accepts
            # connections. Own session so a Ctrl+C aimed at the caller does not reach it.
            cmd = [
                self._bin("pg_ctl"), "start", "-w", "-t", str(max(1, int(timeout))),
                "-D", str(self.data_dir), "-l", str(self.log_file),
            ]  # fmt: skip
            proc = self._run(cmd, check=False, new_session=True)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"pg_ctl start failed:\n{proc.stdout}{proc.stderr}\n"
                    f"--- {self.log_file} ---\n{_tail(self.log_file)}"
                )
        deadline = time.monotonic() + 5.0
        while not port_open(_HOST, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres is up but not on {_HOST}:{self.port} (already running on "
                    "another port? stop it first)"
                )
            time.sleep(0.1)
        self._bootstrap_sql()
        return self.dsn

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster with ``pg_ctl stop -m fast`` (rolls back open transactions).

        No-op if it is not running.
        """
        if not self.is_running():
            return
        cmd = [
            self._bin("pg_ctl"), "stop", "-w", "-m", "fast",
            "-t", str(max(1, int(timeout))), "-D", str(self.data_dir),
        ]  # fmt: skip
        proc = self._run(cmd, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{proc.stdout}{proc.stderr}")

    # -- internals -------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return str(self._bindir / name)

    def _run(
        self, cmd: list[str], *, check: bool = True, stdin: str | None = None,
        new_session: bool = False,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        if self._as_root:
            cmd = ["runuser", "-u", _SUPERUSER, "--", *cmd]
        # cwd = data dir: the postgres user may not be allowed into the caller's cwd.
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, cwd=self.data_dir,
            check=False, start_new_session=new_session,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"`{cmd[0]} ...` failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            self.data_dir.chmod(0o700)
            return
        # As root the cluster belongs to the `postgres` OS user, which must own the data dir
        # and be able to walk every parent directory down to it.
        shutil.chown(self.data_dir, user=_SUPERUSER, group=_SUPERUSER)
        self.data_dir.chmod(0o700)
        probe = subprocess.run(
            ["runuser", "-u", _SUPERUSER, "--", "test", "-w", str(self.data_dir)], check=False
        )
        if probe.returncode != 0:
            raise RuntimeError(
                f"the `{_SUPERUSER}` OS user cannot reach {self.data_dir}: make its parent "
                "directories traversable (chmod o+x) or pick a data dir elsewhere"
            )

    def _initdb(self) -> None:
        cmd = [
            self._bin("initdb"), "-D", str(self.data_dir), "-U", _SUPERUSER,
            "--auth-local=trust", "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--locale=C",
            "--no-sync",  # a throwaway dev cluster; skipping fsync halves initdb time
        ]  # fmt: skip
        self._run(cmd)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\n# jobcast dev stack settings (rewritten on every start)\ninclude '{_CONF}'\n"
            )

    def _write_conf(self) -> None:
        settings = {
            "listen_addresses": f"'{_HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data_dir}'",
            # Dev/test cluster only: durability is traded for speed; a crash may lose or
            # corrupt data, which is acceptable for data that tests recreate anyway.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            # Tables here fill from empty within seconds (tests, benches, a demo): with the
            # default minute between autovacuum's looks, the planner still believes a table
            # of thousands of rows holds a few hundred and seq-scans it for keyed updates.
            "autovacuum_naptime": "5s",
        }
        path = self.data_dir / _CONF
        path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        if self._as_root:
            shutil.chown(path, user=_SUPERUSER, group=_SUPERUSER)

    def _bootstrap_sql(self) -> None:
        # Sent on stdin, not argv, so the password never shows in `ps`.
        # CREATE DATABASE cannot run in a DO block or transaction, hence \gexec.
        sql = f"""
SELECT 'CREATE ROLE {DB_USER} LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DB_USER}') \\gexec
ALTER ROLE {DB_USER} WITH LOGIN PASSWORD '{DB_PASSWORD}';
SELECT 'CREATE DATABASE {DB_NAME} OWNER {DB_USER}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DB_NAME}') \\gexec
"""
        cmd = [
            self._bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.data_dir), "-p", str(self.port), "-U", _SUPERUSER, "-d", "postgres",
        ]  # fmt: skip
        self._run(cmd, stdin=sql)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} missing)"
