"""Tenant authentication for HTTP APIs: `Authorization: Bearer <api key>`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import HTTPException, Request

from jobcast.tenancy import Tenant, authenticate


def tenant_from_bearer(pool: asyncpg.Pool) -> Callable[[Request], Awaitable[Tenant]]:
    """A FastAPI dependency resolving the calling tenant, or answering 401."""

    async def dependency(request: Request) -> Tenant:
        header = request.headers.get("authorization", "")
        scheme, _, api_key = header.partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        tenant = await authenticate(pool, api_key.strip())
        if tenant is None:
            raise HTTPException(
                401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        return tenant

    return dependency
