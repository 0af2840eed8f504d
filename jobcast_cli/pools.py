"""What every database-backed `jobcast` command does first: a small pool, migrations, and
the tenant named on the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer

from jobcast.db import create_pool
from jobcast.settings import CommonSettings
from jobcast.tenancy import Tenant, migrate_tenancy, tenant_by_name
from services.distributor.repo import migrate_distributor

T = TypeVar("T")
SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def run_with_pool(
    settings: SettingsT, work: Callable[[asyncpg.Pool, SettingsT], Awaitable[T]]
) -> T:
    """Run `work` with a pool on a migrated database, then close the pool."""

    async def run() -> T:
        pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            await migrate_tenancy(pool)
            await migrate_distributor(pool)
            return await work(pool, settings)
        finally:
            await pool.close()

    return asyncio.run(run())


async def tenant_or_exit(pool: asyncpg.Pool, name: str) -> Tenant:
    """The tenant called `name`, or exit 2 saying there is none."""
    tenant = await tenant_by_name(pool, name)
    if tenant is None:
        typer.echo(f"no tenant named {name!r}", err=True)
        raise typer.Exit(2)
    return tenant
