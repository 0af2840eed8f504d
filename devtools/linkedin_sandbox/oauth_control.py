"""Control API for the fake LinkedIn's OAuth (`/_sandbox/linkedin/oauth*`): who consents
(or refuses) in the dialog, which app credentials are checked, and aging a token; and a
post's likes (`/_sandbox/linkedin/likes`), which the engagement collector reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from devtools.graph_sandbox.state import SandboxState

from . import oauth


class OAuthPatch(BaseModel):
    """Body of `PATCH /_sandbox/linkedin/oauth`."""

    model_config = ConfigDict(extra="forbid")

    consenting_member: str | None = Field(default=None, min_length=1)
    deny: bool | None = None
    clients: dict[str, str] | None = Field(
        default=None, description="client id -> secret; when any is set, only these work"
    )


class LikesIn(BaseModel):
    """Body of `POST /_sandbox/linkedin/likes`."""

    model_config = ConfigDict(extra="forbid")

    post_urn: str = Field(min_length=1)
    likes: int = Field(ge=0)


class AgeIn(BaseModel):
    """Body of `POST /_sandbox/linkedin/oauth/age`."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, description="an access or a refresh token")
    seconds: float = Field(ge=0)


def oauth_control_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.patch("/oauth")
    async def patch_oauth(body: OAuthPatch) -> dict[str, Any]:
        book = state.linkedin.oauth
        if body.consenting_member is not None:
            book.consenting_member = body.consenting_member
        if body.deny is not None:
            book.deny = body.deny
        if body.clients is not None:
            book.clients = dict(body.clients)
        return {"consenting_member": book.consenting_member, "deny": book.deny}

    @router.post("/likes")
    async def set_likes(body: LikesIn) -> dict[str, Any]:
        if state.linkedin.live_post(body.post_urn) is None:
            raise HTTPException(404, "unknown post")
        state.linkedin.likes[body.post_urn] = body.likes
        return {"post_urn": body.post_urn, "likes": body.likes}

    @router.post("/oauth/age")
    async def age_token(body: AgeIn) -> dict[str, Any]:
        if not oauth.age(state.linkedin, body.token, body.seconds):
            raise HTTPException(404, "unknown token")
        return {"aged": True}

    return router
