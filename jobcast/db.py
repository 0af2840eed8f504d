"""The Postgres pool and the migration runner each service calls at start-up."""

from __future__ import annotations

import logging
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the stubs make it generic; the runtime class is not subscriptable
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]

_LEDGER = """
CREATE TABLE IF NOT EXISTS public.jobcast_migrations (
    component  text        NOT NULL,
    version    text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""
# Any constant works: it only has to be the same for every service that migrates.
_MIGRATION_LOCK = 0x6A6F6263


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool reset hook that does nothing.

    asyncpg's default reset costs a round trip on every release (it clears LISTENs,
    advisory locks, cursors, settings). jobcast keeps no such state on pooled
    connections (the migration lock is released explicitly), so that trip is pure cost.
    """


def program_name() -> str:
    """The module this process runs (`services.ingest` for `python -m services.ingest`):
    Postgres shows it per backend in pg_stat_activity, so a database's load can be told
    apart by the service it serves."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else Path(sys.argv[0]).stem
    return name[:63]  # Postgres's NAMEDATALEN


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool; fails fast if the database does not answer."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=10,
        reset=_keep_session,
        server_settings={"application_name": program_name()},
    )
    assert pool is not None  # create_pool only returns None when not awaited
    return pool


def migrations_of(package: str) -> Traversable:
    """The `migrations/` folder shipped inside a Python package."""
    return resources.files(package) / "migrations"


async def migrate(pool: asyncpg.Pool, component: str, folder: Traversable) -> list[str]:
    """Apply the `NNN_name.sql` files of `folder` not yet applied for `component`.

    All services may start at once, so the whole run holds one advisory lock and
    each file commits together with its ledger row.
    """
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(_LEDGER)
            done = {
                r["version"]
                for r in await conn.fetch(
                    "SELECT version FROM public.jobcast_migrations WHERE component = $1",
                    component,
                )
            }
            for file in files:
                version = file.name.removesuffix(".sql")
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(file.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO public.jobcast_migrations (component, version)"
                        " VALUES ($1, $2)",
                        component,
                        version,
                    )
                applied_now.append(version)
                log.info("migration applied", extra={"component": component, "version": version})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
