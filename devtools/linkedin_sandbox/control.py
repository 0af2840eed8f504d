"""Control API under ``/_sandbox/linkedin/``: organizations, member tokens, the ledger,
comments and settings (FastAPI, included in the Graph sandbox's control app)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from devtools.graph_sandbox.state import SandboxState

from .comments import comment_view
from .images import image_status
from .models import MemberToken, Organization, organization_urn
from .oauth_control import oauth_control_router
from .posts import post_view

# A 1x1 JPEG: what the media relay answers for any image URL (the stack's and the tests'
# jobs name made-up hosts that nothing could fetch from).
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c"
    "0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e"
    "333432ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405"
    "060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107"
    "227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a4344"
    "45464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596"
    "9798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3"
    "e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")


class OrganizationIn(BaseModel):
    """Body of ``POST /_sandbox/linkedin/organizations``."""

    model_config = ConfigDict(extra="forbid")

    organization_id: str = Field(pattern=r"^\d+$")
    name: str | None = None
    token: str | None = Field(default=None, min_length=1)
    admins: list[str] = Field(default_factory=list, description="Member ids with a page role.")


class TokenIn(BaseModel):
    """Body of ``POST /_sandbox/linkedin/tokens``: a member's access token."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1)
    member_id: str = Field(min_length=1)
    scopes: list[str] = Field(default_factory=lambda: ["w_organization_social"])
    expires_in_s: float | None = Field(default=None, description="None: never expires.")


class TokenRef(BaseModel):
    """Body of ``POST /_sandbox/linkedin/tokens/revoke``."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1)


class SettingsPatch(BaseModel):
    """Body of ``PATCH /_sandbox/linkedin/settings``."""

    model_config = ConfigDict(extra="forbid")

    oldest_version: str | None = Field(default=None, pattern=r"^\d{6}$")
    newest_version: str | None = Field(default=None, pattern=r"^\d{6}$")
    image_processing_s: float | None = Field(default=None, ge=0)
    max_image_bytes: int | None = Field(default=None, ge=1)


def organization_view(organization: Organization) -> dict[str, Any]:
    """An organization without its token (only whether one is registered)."""
    return {
        "organization_id": organization.organization_id,
        "urn": organization.urn,
        "name": organization.name,
        "has_token": organization.token is not None,
        "admins": sorted(organization.admins),
    }


def build_linkedin_control_router(state: SandboxState) -> APIRouter:
    """All ``/_sandbox/linkedin/*`` endpoints bound to one state."""
    router = APIRouter(prefix="/_sandbox/linkedin", tags=["sandbox control: LinkedIn"])
    router.include_router(oauth_control_router(state))

    @router.post("/organizations", status_code=201)
    async def register_organization(body: OrganizationIn) -> dict[str, Any]:
        organization = Organization(
            body.organization_id, body.name, body.token, frozenset(body.admins)
        )
        state.linkedin.organizations[organization.organization_id] = organization
        return organization_view(organization)

    @router.get("/organizations")
    async def list_organizations() -> dict[str, Any]:
        found = state.linkedin.organizations.values()
        return {"organizations": [organization_view(o) for o in found]}

    @router.post("/tokens", status_code=201)
    async def register_token(body: TokenIn) -> dict[str, Any]:
        now = state.now()
        expires = now + body.expires_in_s if body.expires_in_s is not None else None
        state.linkedin.member_tokens[body.token] = MemberToken(
            body.member_id, tuple(body.scopes), now, expires
        )
        return {"member_id": body.member_id, "expires_at": expires}

    @router.post("/tokens/revoke")
    async def revoke_token(body: TokenRef) -> dict[str, Any]:
        member = state.linkedin.member_tokens.get(body.token)
        if member is None:
            raise HTTPException(404, "unknown token")
        member.revoked = True
        return {"revoked": True}

    @router.get("/ledger")
    async def ledger(
        organization_id: str | None = None, contains: str | None = None,
        include_deleted: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """Posts (oldest first) and images; `counts.posts`: posts not deleted."""
        store = state.linkedin
        if organization_id is not None:
            source = store.posts_by_author.get(organization_urn(organization_id), [])
        else:
            source = list(store.posts.values())
        found = [
            p
            for p in source
            if (include_deleted or p.deleted_at is None)
            and (contains is None or contains in p.commentary)
        ]
        images = [
            i
            for i in store.images.values()
            if organization_id is None or i.owner == organization_urn(organization_id)
        ]
        now = state.now()
        return {
            "posts": [
                {**post_view(p), "deleted": p.deleted_at is not None, "permalink": p.permalink}
                for p in found
            ],
            "images": [
                {
                    "id": i.urn,
                    "owner": i.owner,
                    "status": image_status(store, i, now),
                    "size": i.size,
                }
                for i in images
            ],
            "counts": {
                "posts": sum(1 for p in found if p.deleted_at is None),
                "images": len(images),
            },
        }

    @router.get("/comments")
    async def list_comments(post_urn: str | None = None) -> dict[str, Any]:
        """Every comment made (on `post_urn` only, if given), oldest first."""
        store = state.linkedin
        if post_urn is not None:
            found = list(store.comments.get(post_urn, []))
        else:
            found = [c for per_post in store.comments.values() for c in per_post]
        return {"comments": [comment_view(c) for c in found]}

    @router.get("/media")
    async def media(url: str) -> Response:
        """The development media relay: a small JPEG for an http(s) image URL (by its
        extension), 404 for anything else; what `PUBLISHER_LINKEDIN_MEDIA_RELAY_URL` fetches."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.lower().endswith(
            _IMAGE_SUFFIXES
        ):
            raise HTTPException(404, "no image at that URL")
        return Response(TINY_JPEG, media_type="image/jpeg")

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return dataclasses.asdict(state.linkedin.settings)

    @router.patch("/settings")
    async def patch_settings(body: SettingsPatch) -> dict[str, Any]:
        settings = state.linkedin.settings
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(settings, name, value)
        return dataclasses.asdict(settings)

    return router
