"""What the distributor's pure code and its SQL both speak of: a tenant's connected
account and a tenant's content profile. Plain data, no I/O: the domain modules import
these, never the SQL modules that load them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from jobcast.graph.hosts import LoginKind
from schemas.platforms import Platform

Language = Literal["en", "id"]
UpdatePolicy = Literal["edit", "ignore"]


@dataclass(frozen=True, slots=True)
class Connection:
    """A connected account, without its token."""

    connection_id: UUID
    tenant_id: UUID
    platform: Platform
    account_id: str
    display_name: str
    status: str
    token_expires_at: datetime | None = None  # None: the token does not expire on a clock
    last_verified_at: datetime | None = None
    last_verify_error: str = ""
    updated_at: datetime | None = None  # when status or token last changed
    login: LoginKind = LoginKind.FACEBOOK  # how it was connected: its host and token rules
    token_issued_at: datetime | None = None  # None: not known (stored before it was kept)
    token_scopes: tuple[str, ...] = ()  # granted at connect, where Meta reports no scopes later
    # LinkedIn: until when its refresh token renews the access token (None: it has none).
    refresh_token_expires_at: datetime | None = None


def default_utm() -> dict[Platform, dict[str, str]]:
    """Attribution added to apply links when a tenant sets none: source per platform."""
    return {p: {"utm_source": p.value, "utm_medium": "social"} for p in Platform}


@dataclass(frozen=True, slots=True)
class ContentWarning:
    """Something a preview should tell: `code` is stable for programs, `message` for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TenantProfile:
    """How a tenant's jobs are worded and linked. The defaults work for any tenant."""

    language: Language = "en"
    locale: str = "en_US"  # Babel locale: number, currency and date formats
    hashtags: tuple[str, ...] = ()  # added to every post, before the job's own tags
    footer: str = ""
    default_image_url: str | None = None  # used on Instagram when the job has no image
    # Query parameters added to the apply link per platform; a platform missing here, or
    # mapped to {}, gets none. Never overrides a parameter the link already has.
    utm: dict[Platform, dict[str, str]] = field(default_factory=default_utm)
    require_approval: bool = False
    update_policy: UpdatePolicy = "edit"  # what job.updated does to live posts
    timezone: str = "UTC"  # IANA zone dates are shown in
    facebook_video_as_reel: bool = False  # a job's video goes to Facebook as a Page Reel
    # Instagram captions carry no hashtags: they go to the post's first comment instead.
    instagram_hashtags_in_first_comment: bool = False
    # The one topic tag of the tenant's Threads posts ('': the post's first hashtag).
    threads_topic_tag: str = ""

    def attribution(self, platform: Platform) -> dict[str, str]:
        """The attribution parameters for `platform` (empty: none)."""
        return dict(self.utm.get(platform, {}))
