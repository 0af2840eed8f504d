"""`jobcast connections add|list|verify|remove|rotate-keys`: connected accounts by hand.

Tokens go in (`add`) and never come out: no command prints one. Changes of state are
announced on `connections.events` exactly as the distributor's API does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar
from uuid import UUID

import asyncpg
import typer

from jobcast.crypto import SecretKeyMissingError, TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.graph.user_login import THREADS_LOGIN_SCOPES
from jobcast.kafka import ensure_topics, make_broker
from jobcast_cli.pools import run_with_pool, tenant_or_exit
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, broker_emitter, disconnect
from services.distributor.connections_wiring import meta_logins
from services.distributor.repo import (
    add_connection,
    list_connections,
    rotate_tokens,
)
from services.distributor.settings import DistributorSettings
from services.distributor.verification import VerifyOutcome, Windows, verify_once

connections = typer.Typer(help="Connected social accounts.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant name")]
T = TypeVar("T")


def _run(work: Callable[[asyncpg.Pool, DistributorSettings], Awaitable[T]]) -> T:
    return run_with_pool(DistributorSettings(), work)


def _cipher(settings: DistributorSettings) -> TokenCipher:
    try:
        return TokenCipher(settings.secret_key)
    except SecretKeyMissingError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@contextlib.asynccontextmanager
async def _events(settings: DistributorSettings) -> AsyncIterator[Emit]:
    """A producer onto `connections.events`, connected before anything is changed."""
    await ensure_topics(settings.kafka_bootstrap_servers)
    broker = make_broker(settings.kafka_bootstrap_servers, "jobcast-cli")
    await broker.start()
    try:
        yield broker_emitter(broker)
    finally:
        await broker.stop()


def login_for(platform: Platform, login: LoginKind | None) -> LoginKind:
    """The login a hand-added connection was made with: Threads' own for a Threads account
    and LinkedIn's for a LinkedIn organization (and only for them), else as given (Facebook
    Login by default)."""
    if platform is Platform.THREADS and login in (None, LoginKind.THREADS):
        return LoginKind.THREADS
    if login is LoginKind.THREADS or platform is Platform.THREADS:
        raise typer.BadParameter("a Threads account is connected with --login threads, only")
    if platform is Platform.LINKEDIN and login in (None, LoginKind.LINKEDIN):
        return LoginKind.LINKEDIN
    if login is LoginKind.LINKEDIN or platform is Platform.LINKEDIN:
        raise typer.BadParameter("a LinkedIn organization is connected with --login linkedin")
    return login or LoginKind.FACEBOOK


@connections.command("add")
def connections_add(
    tenant: TenantOption,
    platform: Annotated[Platform, typer.Option(help="facebook, instagram, threads or linkedin")],
    account_id: Annotated[
        str,
        typer.Option(
            help="Page id, Instagram user id, Threads user id or LinkedIn organization id"
        ),
    ],
    token: Annotated[
        str, typer.Option(help="Access token (or set JOBCAST_TOKEN)", envvar="JOBCAST_TOKEN")
    ],
    *,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    login: Annotated[
        LoginKind | None,
        typer.Option(
            help="facebook (a Page token), instagram (an Instagram Login token) or threads"
            " (a Threads token; the default for a Threads account, else facebook); linkedin"
            " for a LinkedIn organization (the default for --platform linkedin)"
        ),
    ] = None,
    expires_in_days: Annotated[
        float | None,
        typer.Option(
            help="When the token expires, in days from now (a long-lived Instagram Login or"
            " Threads token, or a LinkedIn token: 60), so that it is refreshed and warned"
            " about in time",
            min=0,
        ),
    ] = None,
    refresh_token: Annotated[
        str | None,
        typer.Option(
            help="LinkedIn: the refresh token that renews the access token (or set "
            "JOBCAST_REFRESH_TOKEN)",
            envvar="JOBCAST_REFRESH_TOKEN",
        ),
    ] = None,
    refresh_token_days: Annotated[
        float,
        typer.Option(help="LinkedIn: days the refresh token has left (365 after a consent)"),
    ] = 365.0,
) -> None:
    """Connect an account by hand; the tokens are encrypted before they are stored.

    A LinkedIn organization's account id is its numeric id (from urn:li:organization:N).
    """
    kind = login_for(platform, login)
    if refresh_token and kind is not LoginKind.LINKEDIN:
        typer.echo("--refresh-token is for LinkedIn connections only", err=True)
        raise typer.Exit(2)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(pool: asyncpg.Pool, settings: DistributorSettings) -> None:
        owner = await tenant_or_exit(pool, tenant)
        connection = await add_connection(
            pool,
            _cipher(settings),
            tenant_id=owner.tenant_id,
            platform=platform,
            account_id=account_id,
            token=token,
            display_name=name,
            token_expires_at=expires_at,
            login=kind,
            # Threads reports no scopes: a token made for publishing is taken to grant them.
            token_scopes=THREADS_LOGIN_SCOPES if kind is LoginKind.THREADS else (),
            refresh_token=refresh_token or None,
            refresh_token_expires_at=utcnow() + timedelta(days=refresh_token_days),
        )
        typer.echo(f"connection_id={connection.connection_id}")

    _run(work)


@connections.command("list")
def connections_list(tenant: TenantOption) -> None:
    """List a tenant's connections (never their tokens)."""

    async def work(pool: asyncpg.Pool, _: DistributorSettings) -> None:
        owner = await tenant_or_exit(pool, tenant)
        for c in await list_connections(pool, owner.tenant_id):
            typer.echo(
                f"{c.connection_id}  {c.platform.value:<9}  {c.account_id:<20}  "
                f"{c.status:<15}  {c.login.value}-login  {c.display_name}"
            )

    _run(work)


def describe(outcome: VerifyOutcome) -> str:
    """One line per checked connection: validity, expiry, missing scopes, what changed."""
    c, health = outcome.connection, outcome.health
    head = f"{c.connection_id}  {c.platform.value:<9}  {c.account_id:<20}"
    if health is None:
        return f"{head}  unchecked  {outcome.error}"
    expires = f"{health.expires_at:%Y-%m-%d %H:%M}Z" if health.expires_at else "never"
    parts = [
        head,
        "valid" if health.valid else "INVALID",
        f"expires={expires}",
        f"missing_scopes={','.join(health.missing_scopes) or '-'}",
    ]
    if not health.valid:
        parts.append(health.problem)
    if outcome.marked_needs_reconnect:
        parts.append("-> needs_reconnect")
    if outcome.refreshed:
        parts.append("-> token refreshed")
    if outcome.warned_expiring:
        parts.append("-> expiry warning sent")
    return "  ".join(parts)


@connections.command("verify")
def connections_verify(
    tenant: TenantOption,
    connection: Annotated[
        UUID | None, typer.Option("--connection", help="Only this connection id")
    ] = None,
) -> None:
    """Check tokens with Meta now (debug_token); dead ones are marked needs_reconnect.

    Exits 1 when a token is invalid or could not be checked.
    """

    async def work(pool: asyncpg.Pool, settings: DistributorSettings) -> list[VerifyOutcome]:
        owner = await tenant_or_exit(pool, tenant)
        logins, http = meta_logins(settings)
        try:
            checked = [
                c
                for c in await list_connections(pool, owner.tenant_id)
                if connection in (None, c.connection_id)
            ]
            if not logins.facebook.configured and any(
                c.login is LoginKind.FACEBOOK for c in checked
            ):
                # debug_token needs the Meta app (Instagram Login and Threads tokens do not).
                typer.echo("set GRAPH_APP_ID and GRAPH_APP_SECRET to verify tokens", err=True)
                raise typer.Exit(2)
            async with _events(settings) as emit:
                return await verify_once(
                    pool,
                    _cipher(settings),
                    logins,
                    emit,
                    tenant_id=owner.tenant_id,
                    connection_id=connection,
                    warning=Windows(
                        timedelta(seconds=settings.expiry_warning_seconds),
                        timedelta(seconds=settings.refresh_before_seconds),
                    ),
                )
        finally:
            await http.close()

    outcomes = _run(work)
    if not outcomes:
        typer.echo("no connections to verify", err=True)
        raise typer.Exit(2)
    for outcome in outcomes:
        typer.echo(describe(outcome))
    if any(o.health is None or not o.health.valid for o in outcomes):
        raise typer.Exit(1)


@connections.command("remove")
def connections_remove(
    tenant: TenantOption,
    connection: Annotated[UUID, typer.Option("--connection", help="The connection id")],
) -> None:
    """Disconnect an account: its token is erased and no more posts go to it."""

    async def work(pool: asyncpg.Pool, settings: DistributorSettings) -> None:
        owner = await tenant_or_exit(pool, tenant)
        async with _events(settings) as emit:
            removed = await disconnect(
                pool, emit, owner.tenant_id, connection, reason="removed with the jobcast command"
            )
        if removed is None:
            typer.echo(f"tenant {tenant!r} has no connection {connection}", err=True)
            raise typer.Exit(2)
        typer.echo(f"removed connection_id={removed.connection_id}")

    _run(work)


@connections.command("rotate-keys")
def connections_rotate_keys() -> None:
    """Re-encrypt every stored token under the newest key of JOBCAST_SECRET_KEY.

    Put the new key first and keep the old ones after it until this has run.
    Exits 1 when some token could not be decrypted with any configured key.
    """

    async def work(pool: asyncpg.Pool, settings: DistributorSettings) -> None:
        counts = await rotate_tokens(pool, _cipher(settings))
        typer.echo(f"rotated={counts.rotated} failed={counts.failed}")
        if counts.failed:
            raise typer.Exit(1)

    _run(work)
