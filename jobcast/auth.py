"""Tenant authentication for HTTP APIs: `Authorization: Bearer <api key>`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import HTTPException, Request

from jobcast.http_edge import too_many_requests
from jobcast.rate_limits import RateLimiter
from jobcast.settings import CommonSettings
from jobcast.tenancy import Caller, KeyScope, Tenant, hash_api_key, identify

CallerDependency = Callable[[Request], Awaitable[Caller]]
TenantDependency = Callable[[Request], Awaitable[Tenant]]
FailureLimiter = RateLimiter[str]
"""Failed authentications per client address (see `failure_limiter`)."""

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


def failure_limiter(settings: CommonSettings) -> FailureLimiter:
    """One per process, shared by all its routes: `auth_failure_burst` failed attempts per
    client address, then `auth_failures_per_second` (every one a database lookup)."""
    return RateLimiter(settings.auth_failures_per_second, settings.auth_failure_burst)


def caller_from_bearer(
    pool: asyncpg.Pool, *, failures: FailureLimiter, cache_seconds: float = KEY_CACHE_SECONDS
) -> CallerDependency:
    """A FastAPI dependency resolving who calls (tenant, key scope), or answering 401.

    Keys that authenticated are remembered (by digest) for `cache_seconds`, so a busy
    client costs no query per request; a revoked key stops working within that time.
    Unknown keys are never cached, so they always reach the database: each one costs its
    client address a token of `failures`, and an address without one is answered 429
    (with Retry-After) before its key is looked at, so guessing keys stays slow and
    cheap. Behind a proxy, the client address is the one uvicorn takes from
    X-Forwarded-For (FORWARDED_ALLOW_IPS names the proxies trusted to set it).
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
        address = request.client.host if request.client else ""
        wait = failures.wait(address)
        if wait > 0:
            raise too_many_requests(wait, "too many failed authentications from this address")
        digest = hash_api_key(api_key)
        cached = known.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        caller = await identify(pool, api_key)
        if caller is None:
            failures.take(address)
            raise HTTPException(
                401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        known[digest] = (time.monotonic() + cache_seconds, caller)
        return caller

    return dependency


def tenant_from_bearer(
    pool: asyncpg.Pool, *, failures: FailureLimiter, cache_seconds: float = KEY_CACHE_SECONDS
) -> TenantDependency:
    """A FastAPI dependency resolving the calling tenant (any scope), or answering 401."""
    resolve = caller_from_bearer(pool, failures=failures, cache_seconds=cache_seconds)

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
