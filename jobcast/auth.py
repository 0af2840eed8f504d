"""Tenant authentication for HTTP APIs: `Authorization: Bearer <api key>`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import HTTPException, Request

from jobcast.tenancy import Caller, KeyScope, Tenant, hash_api_key, identify

CallerDependency = Callable[[Request], Awaitable[Caller]]

OPERATOR_SCOPE_REQUIRED = (
    "this API key has tenant scope; operator commands need a key with operator scope"
    " (jobcast api-keys create --tenant NAME --scope operator)"
)


# How long a key that authenticated is trusted without asking the database again: also
# the longest a long-lived response (an SSE stream) goes on after its key is revoked.
KEY_CACHE_SECONDS = 30.0


def bearer_key(request: Request) -> str | None:
    """The API key in `Authorization: Bearer <key>`, or None."""
    scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
    return (api_key.strip() or None) if scheme.lower() == "bearer" else None


def caller_from_bearer(
    pool: asyncpg.Pool, cache_seconds: float = KEY_CACHE_SECONDS
) -> CallerDependency:
    """A FastAPI dependency resolving who calls (tenant, key scope), or answering 401.

    Keys that authenticated are remembered (by digest) for `cache_seconds`, so a busy
    client costs no query per request; a revoked key stops working within that time.
    Unknown keys are never cached, so they always reach the database.
    """
    known: dict[bytes, tuple[float, Caller]] = {}

    async def dependency(request: Request) -> Caller:
        api_key = bearer_key(request)
        if api_key is None:
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = hash_api_key(api_key)
        cached = known.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        caller = await identify(pool, api_key)
        if caller is None:
            raise HTTPException(
                401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        known[digest] = (time.monotonic() + cache_seconds, caller)
        return caller

    return dependency


def tenant_from_bearer(
    pool: asyncpg.Pool, cache_seconds: float = KEY_CACHE_SECONDS
) -> Callable[[Request], Awaitable[Tenant]]:
    """A FastAPI dependency resolving the calling tenant (any scope), or answering 401."""
    resolve = caller_from_bearer(pool, cache_seconds)

    async def dependency(request: Request) -> Tenant:
        return (await resolve(request)).tenant

    return dependency


def operator_only(resolve: CallerDependency) -> CallerDependency:
    """Wrap a caller dependency so that only operator-scope keys pass; others get 403."""

    async def dependency(request: Request) -> Caller:
        caller = await resolve(request)
        if caller.scope is not KeyScope.OPERATOR:
            raise HTTPException(403, OPERATOR_SCOPE_REQUIRED)
        return caller

    return dependency
