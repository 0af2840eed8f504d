"""The Celery peer (`../shared/peers/celery_peer`), run from where it is by its own scripts.

`setup.sh` makes its virtualenv, `run.sh` starts Redis, Postgres, its HTTP intake, the
workers and beat (their PIDs in `$RUN_DIR/pids`), `stop.sh` stops exactly those. This module
only drives the scripts, registers the accounts in its `connections` table and reads its
`posts` table; none of its code is imported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.load import Jobs, TenantAccounts
from devtools.devstack.session import distinct_free_ports, scratch_dir

SCRIPTS = ("setup.sh", "run.sh", "stop.sh")
# "Celery prefork x4": one worker process with four pool children, as the issue measured.
PEER_ENV = {"POOL": "prefork", "CONCURRENCY": "4", "WORKERS": "1", "BEAT": "1"}
FINAL = ("posted", "failed")


class PeerMissingError(RuntimeError):
    """The peer's directory or one of its scripts is not there."""


def check_peer(directory: Path) -> Path:
    """The peer's directory, resolved; PeerMissingError says what is absent and how to fix it."""
    missing = [name for name in SCRIPTS if not (directory / name).is_file()]
    if not directory.is_dir() or missing:
        what = "no such directory" if not directory.is_dir() else ", ".join(missing) + " missing"
        raise PeerMissingError(
            f"the Celery peer is not at {directory} ({what}): pass --peer-dir "
            "(make bench-peer PEER_DIR=...) with the path of shared/peers/celery_peer"
        )
    return directory.resolve()


def script_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without the URLs the scripts would take as 'use this one instead'
    (a jobcast DATABASE_URL must not become the peer's), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, **extra}


def ensure_venv(directory: Path, venv: Path) -> None:
    """Run the peer's setup.sh unless its virtualenv already has Celery."""
    if (venv / "bin" / "celery").exists():
        return
    print(f"peer: creating its virtualenv in {venv} (setup.sh) ...")
    subprocess.run([str(directory / "setup.sh")], env=script_env({"VENV": str(venv)}),
                   cwd=directory, check=True)  # fmt: skip


def ensure_redis() -> None:
    """run.sh installs Redis when missing; done here first so it is never in a measurement."""
    if shutil.which("redis-server") is None:
        print("peer: installing redis-server from Debian ...")
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True)


@dataclass(frozen=True)
class PeerStack:
    """A running peer: its intake URL, database and the PIDs run.sh recorded."""

    api_url: str
    database_url: str
    pids: dict[str, int]


def read_pids(text: str) -> dict[str, int]:
    """`$RUN_DIR/pids`: one `<pid> <name>` a line."""
    found = {}
    for line in text.splitlines():
        if line.strip():
            pid, name = line.split(maxsplit=1)
            found[name.strip()] = int(pid)
    return found


@contextlib.contextmanager
def running_peer(directory: Path, venv: Path, graph_api_url: str) -> Iterator[PeerStack]:
    """The peer started by run.sh on free ports in a scratch dir; stop.sh (CLEAN=1) after."""
    run_dir = scratch_dir("jobcast-bench-peer-")
    app, redis, postgres = distinct_free_ports(3)
    env = script_env({
        **PEER_ENV, "VENV": str(venv), "RUN_DIR": str(run_dir), "GRAPH_API_URL": graph_api_url,
        "APP_PORT": str(app), "REDIS_PORT": str(redis), "PG_PORT": str(postgres),
    })  # fmt: skip
    try:
        started = subprocess.run(
            [str(directory / "run.sh")], env=env, cwd=directory, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"the peer's run.sh failed:\n{started.stderr[-2000:]}")
        yield PeerStack(
            f"http://127.0.0.1:{app}",
            f"postgresql://postgres@127.0.0.1:{postgres}/peer",
            read_pids((run_dir / "pids").read_text()),
        )
    finally:
        subprocess.run(
            [str(directory / "stop.sh")], env={**env, "CLEAN": "1"}, cwd=directory,
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(run_dir, ignore_errors=True)


async def register_connections(pool: asyncpg.Pool, tenants: Sequence[TenantAccounts]) -> None:
    """Each tenant's Page and Instagram account, with the Page token (as the peer's schema
    says Instagram publishing uses it)."""
    await pool.executemany(
        "INSERT INTO connections (tenant, platform, account_id, access_token)"
        " VALUES ($1, $2, $3, $4)",
        [
            (t.name, platform, account, t.token)
            for t in tenants
            for platform, account in (("facebook", t.page_id), ("instagram", t.instagram_id))
        ],
    )


def peer_jobs(tenant: str, jobs: Sequence[dict[str, str]]) -> dict[str, object]:
    """The peer's `POST /v1/job-events` body for jobcast job payloads (the same content)."""
    fields = ("job_id", "title", "description", "company", "location", "apply_url", "image_url")
    return {"tenant": tenant, "jobs": [{f: job[f] for f in fields} for job in jobs]}


_OF_JOBS = "FROM posts p JOIN jobs j ON j.id = p.job_pk WHERE j.job_id LIKE $1"


async def peer_statuses(pool: asyncpg.Pool, jobs: Jobs) -> dict[str, int]:
    rows = await pool.fetch(f"SELECT p.status, count(*) AS n {_OF_JOBS} GROUP BY 1", jobs.pattern)
    return {r["status"]: r["n"] for r in rows}


async def peer_latencies(pool: asyncpg.Pool, jobs: Jobs) -> list[float]:
    """Accepted (the intake's transaction) → posted, ms, per posted post."""
    rows = await pool.fetch(
        "SELECT extract(epoch FROM p.finished_at - p.created_at) * 1000 AS ms"
        f" {_OF_JOBS} AND p.status = 'posted'",
        jobs.pattern,
    )
    return [float(r["ms"]) for r in rows]
