"""`jobcast profile show|set`: a tenant's content profile (language, hashtags, attribution...)."""

from __future__ import annotations

import json
from typing import Annotated

import asyncpg
import typer
from pydantic import ValidationError

from jobcast.kafka import describe_validation_error
from jobcast.settings import CommonSettings
from jobcast_cli.pools import run_with_pool, tenant_or_exit
from services.distributor.models import TenantProfile
from services.distributor.profile import TenantProfileInput, profile_to_json
from services.distributor.repo_profiles import get_profile, put_profile

profile = typer.Typer(
    help="Tenants' content profiles: language, locale, hashtags, footer, default image, "
    "attribution, approval.",
    no_args_is_help=True,
)


class ProfileOptionError(ValueError):
    """An option that cannot be read, named by its profile field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def parse_utm(options: list[str]) -> dict[str, dict[str, str]]:
    """`["facebook:utm_source=fb", "facebook:utm_campaign=x", "instagram:"]` ->
    `{"facebook": {"utm_source": "fb", "utm_campaign": "x"}, "instagram": {}}`.

    Each platform named gets exactly the parameters given (none: attribution off).
    """
    parsed: dict[str, dict[str, str]] = {}
    for option in options:
        platform, colon, pair = option.partition(":")
        if not colon or not platform.strip():
            raise ProfileOptionError("utm", f"{option!r}: expected PLATFORM:KEY=VALUE")
        params = parsed.setdefault(platform.strip(), {})
        if not pair.strip():
            continue
        key, equals, value = pair.partition("=")
        if not equals:
            raise ProfileOptionError(f"utm.{platform}", f"{pair!r}: expected KEY=VALUE")
        params[key.strip()] = value.strip()
    return parsed


def apply_changes(current: TenantProfile, changes: dict[str, object]) -> TenantProfile:
    """`current` with `changes` (profile field -> new value; `utm` per platform) applied.

    Raises pydantic's `ValidationError`, naming the field at fault.
    """
    data = profile_to_json(current)
    for field, value in changes.items():
        if field == "utm" and isinstance(value, dict):
            data["utm"] = {**_as_dict(data["utm"]), **value}
        else:
            data[field] = value
    return TenantProfileInput.model_validate(data).to_profile()


def _as_dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def _print(current: TenantProfile) -> None:
    typer.echo(json.dumps(profile_to_json(current), indent=2, ensure_ascii=False))


@profile.command("show")
def profile_show(tenant: Annotated[str, typer.Option(help="Tenant name")]) -> None:
    """Print the tenant's profile as JSON (the defaults when none is stored)."""

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await tenant_or_exit(pool, tenant)
        _print(await get_profile(pool, owner.tenant_id))

    run_with_pool(CommonSettings(), work)


@profile.command("set")
def profile_set(
    *,
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    language: Annotated[str | None, typer.Option(help="Post language: en or id")] = None,
    locale: Annotated[
        str | None, typer.Option(help="Babel locale for money and dates, e.g. id_ID")
    ] = None,
    hashtag: Annotated[
        list[str] | None,
        typer.Option(help="Hashtag added to every post (repeatable; replaces the list)"),
    ] = None,
    clear_hashtags: Annotated[
        bool, typer.Option("--clear-hashtags", help="Remove all tenant hashtags")
    ] = False,
    footer: Annotated[str | None, typer.Option(help="Footer line ('' removes it)")] = None,
    default_image: Annotated[
        str | None, typer.Option(help="JPEG used on Instagram when a job has none ('' removes)")
    ] = None,
    require_approval: Annotated[
        bool | None, typer.Option(help="Hold posts until an operator approves them")
    ] = None,
    update_policy: Annotated[
        str | None, typer.Option(help="What job.updated does to live posts: edit or ignore")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone dates are shown in")] = None,
    facebook_video_as_reel: Annotated[
        bool | None, typer.Option(help="Post a job's video to Facebook as a Page Reel")
    ] = None,
    instagram_hashtags_in_first_comment: Annotated[
        bool | None,
        typer.Option(help="Move Instagram captions' hashtags into the post's first comment"),
    ] = None,
    threads_topic_tag: Annotated[
        str | None,
        typer.Option(help="The one topic tag of every Threads post ('': the first hashtag)"),
    ] = None,
    utm: Annotated[
        list[str] | None,
        typer.Option(
            help="Apply-link attribution, PLATFORM:KEY=VALUE (repeatable); the platforms named "
            "get exactly these ('facebook:' turns it off), the others keep theirs"
        ),
    ] = None,
) -> None:
    """Change the given fields of the tenant's profile; the others keep their values."""
    changes: dict[str, object] = {}
    for field, value in (
        ("language", language),
        ("locale", locale),
        ("footer", footer),
        ("require_approval", require_approval),
        ("update_policy", update_policy),
        ("timezone", timezone),
        ("facebook_video_as_reel", facebook_video_as_reel),
        ("instagram_hashtags_in_first_comment", instagram_hashtags_in_first_comment),
        ("threads_topic_tag", threads_topic_tag),
    ):
        if value is not None:
            changes[field] = value
    if hashtag or clear_hashtags:
        changes["hashtags"] = [] if clear_hashtags else hashtag
    if default_image is not None:
        changes["default_image_url"] = default_image.strip() or None
    try:
        if utm:
            changes["utm"] = parse_utm(utm)
    except ProfileOptionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if not changes:
        typer.echo("nothing to change: give at least one option (see --help)", err=True)
        raise typer.Exit(2)

    async def work(pool: asyncpg.Pool, _: CommonSettings) -> None:
        owner = await tenant_or_exit(pool, tenant)
        try:
            updated = apply_changes(await get_profile(pool, owner.tenant_id), changes)
        except ValidationError as exc:
            typer.echo(describe_validation_error(exc, limit=20), err=True)
            raise typer.Exit(2) from None
        await put_profile(pool, owner.tenant_id, updated)
        _print(updated)

    run_with_pool(CommonSettings(), work)
