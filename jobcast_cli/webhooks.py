"""`jobcast webhooks`: a tenant's outbound lifecycle webhook (set, show, remove, replay)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
import typer

from jobcast.crypto import SecretKeyMissingError, TokenCipher
from jobcast_cli.pools import run_with_pool, tenant_or_exit
from services.metrics.readmodel.repo import migrate_metrics
from services.metrics.settings import MetricsSettings
from services.metrics.webhooks.domain import acceptable_webhook_url
from services.metrics.webhooks.repo import (
    endpoint_of,
    register_endpoint,
    remove_endpoint,
    replay_dead,
)

webhooks = typer.Typer(
    help="Outbound webhooks (post.* and engagement.updated) per tenant.", no_args_is_help=True
)
TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant name")]


@webhooks.command("set")
def webhooks_set(
    tenant: TenantOption,
    url: Annotated[str, typer.Option("--url", help="Where to POST (https)")],
) -> None:
    """Register the tenant's URL and print its new signing secret (shown once)."""
    settings = MetricsSettings()
    problem = acceptable_webhook_url(
        url,
        allow_insecure=settings.webhook_allow_insecure_urls,
        allow_loopback=settings.webhook_allow_loopback,
    )
    if problem:
        typer.echo(f"url {problem}", err=True)
        raise typer.Exit(2)
    try:
        cipher = TokenCipher(settings.secret_key)
    except SecretKeyMissingError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    async def work(pool: asyncpg.Pool, _: MetricsSettings) -> None:
        await migrate_metrics(pool)
        owner = await tenant_or_exit(pool, tenant)
        secret = await register_endpoint(pool, cipher, owner.tenant_id, url)
        typer.echo(f"url={url}")
        typer.echo(f"secret={secret}")
        typer.echo("(the secret is shown once: verify X-Jobcast-Signature with it)", err=True)

    run_with_pool(settings, work)


@webhooks.command("show")
def webhooks_show(tenant: TenantOption) -> None:
    """The registered URL and its deliveries by state (never the secret)."""

    async def work(pool: asyncpg.Pool, _: MetricsSettings) -> None:
        await migrate_metrics(pool)
        owner = await tenant_or_exit(pool, tenant)
        endpoint = await endpoint_of(pool, owner.tenant_id)
        if endpoint is None:
            typer.echo("no webhook registered")
            return
        typer.echo(f"url={endpoint.url}  since {endpoint.updated_at:%Y-%m-%d %H:%M}")
        typer.echo(
            f"deliveries: {endpoint.pending} pending, {endpoint.delivered} delivered,"
            f" {endpoint.dead} dead"
        )

    run_with_pool(MetricsSettings(), work)


@webhooks.command("remove")
def webhooks_remove(tenant: TenantOption) -> None:
    """Stop sending to the tenant's URL (pending deliveries become dead)."""

    async def work(pool: asyncpg.Pool, _: MetricsSettings) -> None:
        await migrate_metrics(pool)
        owner = await tenant_or_exit(pool, tenant)
        removed = await remove_endpoint(pool, owner.tenant_id)
        typer.echo("removed" if removed else "no webhook registered")

    run_with_pool(MetricsSettings(), work)


@webhooks.command("replay")
def webhooks_replay(
    tenant: TenantOption,
    delivery: Annotated[
        UUID | None, typer.Option("--delivery", help="One delivery id; absent: every dead one")
    ] = None,
) -> None:
    """Send dead deliveries again (their tries start over)."""

    async def work(pool: asyncpg.Pool, _: MetricsSettings) -> None:
        await migrate_metrics(pool)
        owner = await tenant_or_exit(pool, tenant)
        count = await replay_dead(pool, owner.tenant_id, delivery)
        typer.echo(f"{count} dead deliveries queued again")

    run_with_pool(MetricsSettings(), work)
