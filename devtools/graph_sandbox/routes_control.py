"""Control API under ``/_sandbox/``: register accounts, inject faults, read the ledger."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from . import threads_login
from .faults import FaultRule
from .instagram_login import OPERATIONS as INSTAGRAM_LOGIN_OPERATIONS
from .instagram_login import age_tokens
from .ledger import build_ledger
from .models import Account
from .routing import OPERATIONS
from .state import SandboxState
from .threads_host import OPERATIONS as THREADS_OPERATIONS


class AccountIn(BaseModel):
    """Body of ``POST /_sandbox/accounts``."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1)
    platform: Literal["facebook", "instagram", "threads"]
    token: str | None = Field(default=None, min_length=1)
    permissions: list[str] | None = None
    quota_total: int | None = Field(default=None, ge=0)
    user_id: str | None = None
    name: str | None = None
    linked_instagram_id: str | None = None


class UserIn(BaseModel):
    """Body of ``POST /_sandbox/users``."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1)
    name: str | None = None
    token: str | None = Field(default=None, min_length=1)
    scopes: list[str] = Field(default_factory=list)


class SettingsPatch(BaseModel):
    """Body of ``PATCH /_sandbox/settings`` (only the given fields change)."""

    model_config = ConfigDict(extra="forbid")

    base_latency_ms: int | None = Field(default=None, ge=0)
    video_processing_s: float | None = Field(default=None, ge=0)
    image_processing_s: float | None = Field(default=None, ge=0)
    container_ttl_s: float | None = Field(default=None, gt=0)
    ig_quota_total: int | None = Field(default=None, ge=0)
    ig_quota_duration_s: int | None = Field(default=None, gt=0)
    threads_quota_total: int | None = Field(default=None, ge=0)
    threads_reply_quota_total: int | None = Field(default=None, ge=0)
    threads_delete_quota_total: int | None = Field(default=None, ge=0)
    account_hourly_budget: int | None = Field(default=None, ge=0)
    app_hourly_budget: int | None = Field(default=None, ge=0)
    app_id: str | None = None
    app_secret: str | None = None
    require_appsecret_proof: bool | None = None
    fault_timeout_s: float | None = Field(default=None, ge=0)
    call_log_size: int | None = Field(default=None, ge=1)
    duplicate_detection: bool | None = None
    reject_private_media_urls: bool | None = None
    read_after_write: bool | None = None
    consenting_user_id: str | None = None
    oauth_deny: bool | None = None
    user_token_ttl_s: int | None = Field(default=None, gt=0)
    consenting_instagram_id: str | None = None
    ig_login_token_ttl_s: int | None = Field(default=None, gt=0)
    consenting_threads_id: str | None = None
    threads_login_token_ttl_s: int | None = Field(default=None, gt=0)


class TokenAging(BaseModel):
    """Body of ``POST /_sandbox/instagram/tokens/age`` (and `/threads/tokens/age`): an
    account's Instagram Login (Threads) tokens become `seconds` older (issued and expiring
    that much earlier)."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1)
    seconds: float = Field(ge=0)


class ClockAdvance(BaseModel):
    """Body of ``POST /_sandbox/clock/advance``."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0)


class RevokeIn(BaseModel):
    """Body of ``POST /_sandbox/tokens/revoke``: later calls with the token get 190/subcode."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1)
    subcode: int = 460


def account_view(account: Account) -> dict[str, Any]:
    """An account without its token (only whether one is registered)."""
    return {
        "account_id": account.account_id,
        "platform": account.platform,
        "has_token": account.token is not None,
        "permissions": sorted(account.permissions) if account.permissions is not None else None,
        "quota_total": account.quota_total,
        "user_id": account.user_id,
        "name": account.name,
        "linked_instagram_id": account.linked_instagram_id,
    }


def build_control_router(state: SandboxState) -> APIRouter:
    """All ``/_sandbox/*`` endpoints bound to one state."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "ok": True,
            "operations": [*OPERATIONS, *INSTAGRAM_LOGIN_OPERATIONS, *THREADS_OPERATIONS],
        }

    @router.get("/ledger")
    async def ledger(
        account_id: str | None = None,
        kind: str | None = None,
        contains: str | None = None,
        include_deleted: bool = True,
    ) -> dict[str, Any]:
        try:
            return build_ledger(state, account_id, kind, contains, include_deleted)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    @router.get("/comments")
    async def list_comments(object_id: str | None = None) -> dict[str, Any]:
        """Every comment made (on `object_id` only, if given), oldest first."""
        found = (
            state.comments.get(object_id, [])
            if object_id is not None
            else [c for listed in state.comments.values() for c in listed]
        )
        return {"comments": [dataclasses.asdict(c) for c in found]}

    @router.get("/calls")
    async def calls(
        limit: int = 100,
        account_id: str | None = None,
        operation: str | None = None,
    ) -> dict[str, Any]:
        selected = [
            call
            for call in state.calls
            if (account_id is None or call["account_id"] == account_id)
            and (operation is None or call["operation"] == operation)
        ]
        return {"calls": selected[-limit:] if limit > 0 else []}

    @router.post("/accounts", status_code=201)
    async def register_account(body: AccountIn) -> dict[str, Any]:
        account = Account(
            account_id=body.account_id,
            platform=body.platform,
            token=body.token,
            permissions=frozenset(body.permissions) if body.permissions is not None else None,
            quota_total=body.quota_total,
            user_id=body.user_id,
            name=body.name,
            linked_instagram_id=body.linked_instagram_id,
        )
        return account_view(state.register_account(account))

    @router.get("/accounts")
    async def list_accounts() -> dict[str, Any]:
        return {"accounts": [account_view(a) for a in state.accounts.values()]}

    @router.post("/users", status_code=201)
    async def register_user(body: UserIn) -> dict[str, Any]:
        state.register_user(body.user_id, body.name, body.token, tuple(body.scopes))
        return {"user_id": body.user_id, "has_token": body.token is not None}

    @router.post("/faults", status_code=201)
    async def add_fault(rule: FaultRule) -> dict[str, Any]:
        return state.faults.add(rule).view()

    @router.get("/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": state.faults.views()}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"cleared": True}

    @router.delete("/faults/{fault_id}")
    async def remove_fault(fault_id: str) -> dict[str, Any]:
        if not state.faults.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no active fault {fault_id}")
        return {"removed": fault_id}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return state.settings.public_view()

    @router.patch("/settings")
    async def patch_settings(body: SettingsPatch) -> dict[str, Any]:
        state.apply_settings(body.model_dump(exclude_unset=True))
        return state.settings.public_view()

    @router.post("/clock/advance")
    async def advance_clock(body: ClockAdvance) -> dict[str, Any]:
        return {"offset_s": state.advance_clock(body.seconds), "now": state.now()}

    @router.post("/instagram/tokens/age")
    async def age_instagram_tokens(body: TokenAging) -> dict[str, Any]:
        return {"aged": age_tokens(state, body.account_id, body.seconds)}

    @router.post("/threads/tokens/age")
    async def age_threads_tokens(body: TokenAging) -> dict[str, Any]:
        return {"aged": threads_login.age_tokens(state, body.account_id, body.seconds)}

    @router.post("/tokens/revoke")
    async def revoke_token(body: RevokeIn) -> dict[str, Any]:
        state.revoked_tokens[body.token] = body.subcode
        return {"revoked": True}

    return router
