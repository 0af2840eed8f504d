"""Plain records of what exists on the fake LinkedIn (no behaviour beyond small predicates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ImageStatus = Literal["WAITING_UPLOAD", "PROCESSING", "AVAILABLE", "PROCESSING_FAILED"]


@dataclass(slots=True)
class Organization:
    """A LinkedIn organization (Company Page) registered through the control API.

    ``token``: when set, only that token (or a token of a member in ``admins``) may act for
    it; unregistered organizations accept any token, as the Graph sandbox's accounts do.
    """

    organization_id: str
    name: str | None = None
    token: str | None = None
    admins: frozenset[str] = frozenset()

    @property
    def urn(self) -> str:
        """``urn:li:organization:{id}``."""
        return organization_urn(self.organization_id)


@dataclass(slots=True)
class MemberToken:
    """A member's access token known to the sandbox (issued by OAuth or registered)."""

    member_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float | None  # None: never expires
    revoked: bool = False


@dataclass(slots=True)
class Image:
    """An image asset: initialised, then uploaded, then processed."""

    urn: str
    owner: str  # urn:li:organization:N
    upload_token: str  # the secret path part of its upload URL
    created_at: float
    status: ImageStatus = "WAITING_UPLOAD"
    uploaded_at: float | None = None
    size: int = 0
    fail_processing: bool = False  # set by a fault: processing ends PROCESSING_FAILED


@dataclass(slots=True)
class Post:
    """A post on an organization's page (as the Posts API stores it)."""

    urn: str
    author: str
    commentary: str
    visibility: str
    lifecycle_state: str
    content: dict[str, Any] | None
    created_at: float
    last_modified_at: float
    distribution: dict[str, Any] = field(default_factory=dict)
    deleted_at: float | None = None

    @property
    def permalink(self) -> str:
        """The post's page on linkedin.com."""
        return f"https://www.linkedin.com/feed/update/{self.urn}/"


@dataclass(slots=True)
class Comment:
    """A comment on a post (socialActions/{post}/comments)."""

    urn: str
    post_urn: str
    actor: str
    text: str
    created_at: float


def organization_urn(organization_id: str) -> str:
    """``urn:li:organization:{id}``."""
    return f"urn:li:organization:{organization_id}"


ORGANIZATION_URN_PREFIX = "urn:li:organization:"


def organization_id_of(urn: str) -> str | None:
    """The numeric id of an organization URN, or None when it is not one."""
    if not urn.startswith(ORGANIZATION_URN_PREFIX):
        return None
    rest = urn[len(ORGANIZATION_URN_PREFIX) :]
    return rest if rest.isdigit() else None
