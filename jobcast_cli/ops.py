"""`jobcast ops`: operator commands from a shell, audited and published exactly as the
HTTP endpoints do (`services.ingest.operator.OperatorDesk`), with the CLI user as actor."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Callable
from typing import Annotated

import typer
from pydantic import ValidationError

from jobcast.db import create_pool
from jobcast.kafka import describe_validation_error, ensure_topics, make_broker
from jobcast.settings import CommonSettings
from jobcast.tenancy import migrate_tenancy, tenant_by_name
from schemas.operator import OperatorAction, OperatorCommand
from schemas.platforms import Platform
from services.ingest.operator import OperatorDesk
from services.ingest.repo import migrate_ingest

ops = typer.Typer(
    help="Operator commands: retry, cancel, approve/reject, pause/resume (audited).",
    no_args_is_help=True,
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant name")]
PostKeyOption = Annotated[str | None, typer.Option("--post-key", help="The post's key (pk_...)")]
JobIdOption = Annotated[str | None, typer.Option("--job-id", help="Upstream's job id")]
PlatformOption = Annotated[
    Platform | None, typer.Option("--platform", help="One platform; absent: the whole tenant")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit)")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who issues it (default: cli:<user>@<host>)")
]


def default_actor() -> str:
    """`cli:<os user>@<host>`: who ran the command, as the audit names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def issue(
    tenant: str,
    action: OperatorAction,
    *,
    post_key: str | None = None,
    job_id: str | None = None,
    platform: Platform | None = None,
    reason: str = "",
    actor: str | None = None,
) -> None:
    """Validate, then audit and publish one command for the named tenant."""
    try:
        command = OperatorCommand(
            action=action,
            actor=actor or default_actor(),
            post_key=post_key,
            job_id=job_id,
            platform=platform,
            reason=reason,
        )
    except ValidationError as exc:
        typer.echo(f"invalid {action.value}: {describe_validation_error(exc)}", err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        settings = CommonSettings()
        pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            await migrate_tenancy(pool)
            await migrate_ingest(pool)
            owner = await tenant_by_name(pool, tenant)
            if owner is None:
                typer.echo(f"no tenant named {tenant!r}", err=True)
                raise typer.Exit(2)
            await ensure_topics(settings.kafka_bootstrap_servers)
            broker = make_broker(settings.kafka_bootstrap_servers, "jobcast-cli")
            await broker.start()
            try:
                event = await OperatorDesk(pool, broker).issue(owner.tenant_id, command)
            finally:
                await broker.stop()
        finally:
            await pool.close()
        typer.echo(f"command_id={event.event_id}")
        typer.echo(f"action={action.value}")

    asyncio.run(run())


@ops.command("retry")
def retry(
    tenant: TenantOption,
    post_key: PostKeyOption = None,
    reason: ReasonOption = "",
    actor: ActorOption = None,
) -> None:
    """Retry a failed post: its publisher tries again (a fresh series of attempts)."""
    issue(tenant, OperatorAction.RETRY, post_key=post_key, reason=reason, actor=actor)


def _on_post_or_job(action: OperatorAction) -> Callable[..., None]:
    def command(
        tenant: TenantOption,
        post_key: PostKeyOption = None,
        job_id: JobIdOption = None,
        reason: ReasonOption = "",
        actor: ActorOption = None,
    ) -> None:
        issue(tenant, action, post_key=post_key, job_id=job_id, reason=reason, actor=actor)

    return command


for _action, _help in [
    (OperatorAction.CANCEL, "Cancel a post (or a job's posts) not yet sent to a publisher."),
    (OperatorAction.APPROVE, "Approve a post (or a job's posts) awaiting approval."),
    (
        OperatorAction.REJECT,
        "Reject a post (or a job's posts) awaiting approval: dropped for good.",
    ),
]:
    ops.command(_action.value, help=f"{_help} Give --post-key or --job-id.")(
        _on_post_or_job(_action)
    )


def _on_scope(action: OperatorAction) -> Callable[..., None]:
    def command(
        tenant: TenantOption,
        platform: PlatformOption = None,
        reason: ReasonOption = "",
        actor: ActorOption = None,
    ) -> None:
        issue(tenant, action, platform=platform, reason=reason, actor=actor)

    return command


for _action, _help in [
    (OperatorAction.PAUSE, "Hold the tenant's (or one platform's) due posts."),
    (OperatorAction.RESUME, "Release the tenant's (or one platform's) held posts in due order."),
]:
    ops.command(_action.value, help=_help)(_on_scope(_action))
