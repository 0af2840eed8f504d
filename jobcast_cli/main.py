"""`jobcast`: operator commands. Each command is a thin shell over the services' repos."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer

from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.settings import CommonSettings
from jobcast.tenancy import (
    Tenant,
    add_api_key,
    create_tenant,
    list_api_keys,
    migrate_tenancy,
    revoke_api_key,
    tenant_by_name,
)
from jobcast_cli.envfile import load_env_defaults
from schemas.platforms import Platform
from services.distributor.repo import add_connection, list_connections, migrate_distributor

app = typer.Typer(help="Operate jobcast.", no_args_is_help=True)
tenants = typer.Typer(help="Tenants and their API keys.", no_args_is_help=True)
connections = typer.Typer(help="Connected social accounts.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(connections, name="connections")
api_keys = typer.Typer(help="Tenants' API keys (stored hashed).", no_args_is_help=True)
app.add_typer(api_keys, name="api-keys")
stack = typer.Typer(
    help="The local stack (what `make up` / `make down` run).", no_args_is_help=True
)
app.add_typer(stack, name="stack")

T = TypeVar("T")


def _with_pool(work: Callable[[asyncpg.Pool, CommonSettings], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = CommonSettings()
        pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            await migrate_tenancy(pool)
            await migrate_distributor(pool)
            return await work(pool, settings)
        finally:
            await pool.close()

    return asyncio.run(run())


async def _tenant(pool: asyncpg.Pool, name: str) -> Tenant:
    tenant = await tenant_by_name(pool, name)
    if tenant is None:
        typer.echo(f"no tenant named {name!r}", err=True)
        raise typer.Exit(2)
    return tenant


@tenants.command("create")
def tenants_create(name: str) -> None:
    """Create a tenant and print its API key (shown once, stored only as a hash)."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        if await tenant_by_name(pool, name) is not None:
            typer.echo(f"tenant {name!r} already exists", err=True)
            raise typer.Exit(2)
        tenant, api_key = await create_tenant(pool, name)
        typer.echo(f"tenant_id={tenant.tenant_id}")
        typer.echo(f"api_key={api_key}")

    _with_pool(work)


@api_keys.command("create")
def api_keys_create(tenant: Annotated[str, typer.Option(help="Tenant name")]) -> None:
    """Issue another key (for rotation); it is printed once and stored only as a hash."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        typer.echo(f"api_key={await add_api_key(pool, owner.tenant_id)}")

    _with_pool(work)


@api_keys.command("list")
def api_keys_list(tenant: Annotated[str, typer.Option(help="Tenant name")]) -> None:
    """A tenant's keys by prefix, with when they were created or revoked."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        for key in await list_api_keys(pool, owner.tenant_id):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
            typer.echo(f"{key.key_prefix}…  created {key.created_at:%Y-%m-%d %H:%M}  {state}")

    _with_pool(work)


@api_keys.command("revoke")
def api_keys_revoke(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    key: Annotated[str, typer.Option(help="The whole key, or the prefix `list` shows")],
) -> None:
    """Revoke a key: requests with it get 401 from then on."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        matched = await revoke_api_key(pool, owner.tenant_id, key.rstrip("…"))
        if matched != 1:
            why = (
                "no live key matches"
                if matched == 0
                else f"{matched} keys match: give the whole key"
            )
            typer.echo(why, err=True)
            raise typer.Exit(2)
        typer.echo("revoked")

    _with_pool(work)


@connections.command("add")
def connections_add(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    platform: Annotated[Platform, typer.Option(help="facebook or instagram")],
    account_id: Annotated[str, typer.Option(help="Page id or Instagram user id")],
    token: Annotated[
        str, typer.Option(help="Access token (or set JOBCAST_TOKEN)", envvar="JOBCAST_TOKEN")
    ],
    name: Annotated[str, typer.Option(help="Display name")] = "",
) -> None:
    """Connect an account by hand; the token is encrypted before it is stored."""

    async def work(pool: asyncpg.Pool, settings: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        connection = await add_connection(
            pool,
            TokenCipher(settings.secret_key),
            tenant_id=owner.tenant_id,
            platform=platform,
            account_id=account_id,
            token=token,
            display_name=name,
        )
        typer.echo(f"connection_id={connection.connection_id}")

    _with_pool(work)


@connections.command("list")
def connections_list(tenant: Annotated[str, typer.Option(help="Tenant name")]) -> None:
    """List a tenant's connections (never their tokens)."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        for c in await list_connections(pool, owner.tenant_id):
            typer.echo(
                f"{c.connection_id}  {c.platform.value:<9}  {c.account_id:<20}  "
                f"{c.status:<15}  {c.display_name}"
            )

    _with_pool(work)


@stack.command("up")
def stack_up(
    demo: Annotated[bool, typer.Option(help="Send the demo jobs once the stack is up")] = True,
) -> None:
    """Start Kafka, Postgres, the Graph API sandbox and the five services; run the demo."""
    from jobcast_cli.demo import run_demo
    from jobcast_cli.envfile import ENV_FILE, STATE_DIR, write_env_file
    from jobcast_cli.stack import bring_up

    started_at = time.monotonic()
    endpoints, started = bring_up(STATE_DIR.resolve())
    write_env_file(endpoints.env(), ENV_FILE)
    elapsed = time.monotonic() - started_at
    typer.echo(f"stack up in {elapsed:.1f}s (started: {', '.join(started) or 'nothing new'})")
    for key, value in endpoints.env().items():
        if key != "JOBCAST_SECRET_KEY" and value:
            typer.echo(f"  {key}={value}")
    typer.echo(f"endpoints written to {ENV_FILE} (source it: . {ENV_FILE})")
    if demo:
        try:
            rows = asyncio.run(run_demo(endpoints))
        except TimeoutError:
            typer.echo("demo: posts did not all arrive within 60s; see .jobcast/logs/", err=True)
            raise typer.Exit(1) from None
        typer.echo("demo jobs:")
        for row in rows:
            where = row["permalink"] or (row["error"] or {}).get("message", "")
            typer.echo(f"  {row['job_id']:<34} {row['platform']:<9} {row['status']:<11} {where}")


@stack.command("down")
def stack_down() -> None:
    """Stop everything `jobcast stack up` started."""
    from jobcast_cli.envfile import STATE_DIR
    from jobcast_cli.stack import bring_down

    stopped = bring_down(STATE_DIR.resolve())
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def main() -> None:
    """Entry point of the `jobcast` command."""
    load_env_defaults()
    app()
