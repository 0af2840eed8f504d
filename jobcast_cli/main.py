"""`jobcast`: operator commands. Each command is a thin shell over the services' repos."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer

from jobcast.settings import CommonSettings
from jobcast.tenancy import (
    KeyScope,
    add_api_key,
    create_tenant,
    list_api_keys,
    revoke_api_key,
    tenant_by_name,
)
from jobcast_cli.connections import connections
from jobcast_cli.dlq.commands import dlq
from jobcast_cli.envfile import load_env_defaults
from jobcast_cli.exports import analytics, posts
from jobcast_cli.jobs_import import jobs
from jobcast_cli.ops import ops
from jobcast_cli.pools import run_with_pool, tenant_or_exit
from jobcast_cli.profiles import profile
from jobcast_cli.rebuild import rebuild
from jobcast_cli.replay import replay
from jobcast_cli.webhooks import webhooks

app = typer.Typer(help="Operate jobcast.", no_args_is_help=True)
tenants = typer.Typer(help="Tenants and their API keys.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(connections, name="connections")
api_keys = typer.Typer(help="Tenants' API keys (stored hashed).", no_args_is_help=True)
app.add_typer(api_keys, name="api-keys")
app.add_typer(ops, name="ops")
app.add_typer(profile, name="profile")
app.add_typer(replay, name="replay")
app.add_typer(rebuild, name="rebuild")
app.add_typer(webhooks, name="webhooks")
app.add_typer(dlq, name="dlq")
app.add_typer(jobs, name="jobs")
app.add_typer(posts, name="posts")
app.add_typer(analytics, name="analytics")


def _dev_stack() -> typer.Typer | None:
    """`jobcast stack` (what `make up` runs) from the devtools package of a checkout, or None
    where devtools is absent: the installed product has the operator commands only."""
    try:
        from devtools.stack_cli import stack
    except ModuleNotFoundError as missing:
        # Only devtools itself may be missing; a module devtools needs is a real error.
        if missing.name not in ("devtools", "devtools.stack_cli"):
            raise
        return None
    return stack


if (dev_stack := _dev_stack()) is not None:
    app.add_typer(dev_stack, name="stack")

T = TypeVar("T")


def _with_pool(work: Callable[[asyncpg.Pool, CommonSettings], Awaitable[T]]) -> T:
    return run_with_pool(CommonSettings(), work)


_tenant = tenant_or_exit


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
def api_keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    scope: Annotated[
        KeyScope, typer.Option(help="tenant, or operator (may also issue operator commands)")
    ] = KeyScope.TENANT,
) -> None:
    """Issue another key (for rotation); it is printed once and stored only as a hash."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        typer.echo(f"api_key={await add_api_key(pool, owner.tenant_id, scope)}")

    _with_pool(work)


@api_keys.command("list")
def api_keys_list(tenant: Annotated[str, typer.Option(help="Tenant name")]) -> None:
    """A tenant's keys by prefix, with when they were created or revoked."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await _tenant(pool, tenant)
        for key in await list_api_keys(pool, owner.tenant_id):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
            typer.echo(
                f"{key.key_prefix}…  {key.scope.value:<8}  "
                f"created {key.created_at:%Y-%m-%d %H:%M}  {state}"
            )

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


def main() -> None:
    """Entry point of the `jobcast` command."""
    # `stack` decides from the user's own environment and its state file: the env file holds
    # what `stack up` wrote, and must not pass for endpoints the user asked for.
    if sys.argv[1:2] != ["stack"]:
        load_env_defaults()
    app()


if __name__ == "__main__":
    # `python -m jobcast_cli.main` from a checkout (what `make up` runs): the checkout is then
    # on sys.path, so devtools imports and `stack` is there; the console script has no such path.
    main()
