"""Tenant authentication for HTTP APIs: `Authorization: Bearer <api key>`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import HTTPException, Request

from jobcast.tenancy import Tenant, authenticate, hash_api_key


def tenant_from_bearer(
    pool: asyncpg.Pool, cache_seconds: float = 30.0
) -> Callable[[Request], Awaitable[Tenant]]:
    """A FastAPI dependency resolving the calling tenant, or answering 401.

    Keys that authenticated are remembered (by digest) for `cache_seconds`, so a busy
    client costs no query per request; a revoked key stops working within that time.
    Unknown keys are never cached, so they always reach the database.
    """
    known: dict[bytes, tuple[float, Tenant]] = {}

    async def dependency(request: Request) -> Tenant:
        header = request.headers.get("authorization", "")
        scheme, _, api_key = header.partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = hash_api_key(api_key.strip())
        cached = known.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        tenant = await authenticate(pool, api_key.strip())
        if tenant is not None:
            known[digest] = (time.monotonic() + cache_seconds, tenant)
        if tenant is None:
            raise HTTPException(
                401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        return tenant

    return dependency
