"""Wiring of the connections part of the distributor: its routes, its timer, its client."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg
from fastapi import APIRouter
from faststream.kafka import KafkaBroker

from jobcast.auth import TenantDependency
from jobcast.crypto import SecretKeyMissingError, TokenCipher
from jobcast.graph.login import FacebookGraph
from jobcast.graph.session import graph_session
from jobcast.graph.user_login import THREADS, UserTokenLogin
from jobcast.http_client import http_client
from jobcast.linkedin.client import LinkedInClient
from jobcast.linkedin.login import LinkedInLogin
from jobcast.service import BackgroundLoop, Cleanup
from services.distributor.connections import broker_emitter
from services.distributor.routes_connections import connections_router
from services.distributor.routes_linkedin import linkedin_router
from services.distributor.routes_user_login import user_login_router
from services.distributor.settings import DistributorSettings
from services.distributor.verification import Logins, VerificationLoop

log = logging.getLogger(__name__)


@dataclass
class ConnectionsPart:
    router: APIRouter
    background: list[BackgroundLoop] = field(default_factory=list)
    cleanups: list[Cleanup] = field(default_factory=list)


class Closable(Protocol):
    async def close(self) -> None: ...


class Sessions:
    """The HTTP sessions the logins call through, closed together."""

    def __init__(self, *sessions: Closable) -> None:
        self._sessions = sessions

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()


def meta_logins(settings: DistributorSettings) -> tuple[Logins, Sessions]:
    """The token calls of every login for the connections flow, and the HTTP sessions to
    close after (made here, so call it inside the event loop)."""
    http = graph_session(settings.graph_api_url, timeout_seconds=settings.graph_timeout_seconds)
    facebook = FacebookGraph(
        http,
        version=settings.graph_api_version,
        app_id=settings.graph_app_id,
        app_secret=settings.graph_app_secret,
    )
    instagram = UserTokenLogin(
        http,
        graph_url=settings.graph_instagram_url,
        token_url=settings.instagram_api_url,
        version=settings.graph_api_version,
        app_id=settings.instagram_app_id,
        app_secret=settings.instagram_app_secret,
    )
    threads = UserTokenLogin(
        http,
        graph_url=settings.graph_threads_url,
        token_url=settings.graph_threads_url,  # Threads exchanges codes on its Graph host
        version=settings.graph_threads_version,
        app_id=settings.threads_app_id,
        app_secret=settings.threads_app_secret,
        dialect=THREADS,
    )
    # LinkedIn: its API through its client (one pool on LINKEDIN_API_URL), its OAuth host's
    # token calls through jobcast's HTTP client.
    linkedin_api = graph_session(
        settings.linkedin_api_url, timeout_seconds=settings.linkedin_timeout_seconds
    )
    token_calls = http_client(timeout_seconds=settings.linkedin_timeout_seconds)
    linkedin = LinkedInLogin(
        token_calls,
        LinkedInClient(linkedin_api, settings.linkedin_api_version),
        oauth_url=settings.linkedin_oauth_url,
        client_id=settings.linkedin_client_id,
        client_secret=settings.linkedin_client_secret,
    )
    return Logins(facebook, instagram, threads, linkedin), Sessions(http, linkedin_api, token_calls)


def connections_part(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    tenant_dependency: TenantDependency,
) -> ConnectionsPart:
    """The connections API and the token verification loop, ready to mount and run."""
    try:
        cipher: TokenCipher | None = TokenCipher(settings.secret_key)
    except SecretKeyMissingError as exc:
        log.warning("connections API unavailable", extra={"reason": str(exc)})
        cipher = None
    logins, http = meta_logins(settings)
    emit = broker_emitter(broker)
    router = connections_router(
        settings, pool, cipher=cipher, logins=logins, emit=emit,
        tenant_dependency=tenant_dependency,
    )  # fmt: skip
    router.include_router(
        user_login_router(
            settings, pool, cipher=cipher, logins=logins, emit=emit,
            tenant_dependency=tenant_dependency,
        )
    )  # fmt: skip
    router.include_router(
        linkedin_router(
            settings, pool, cipher=cipher, logins=logins, emit=emit,
            tenant_dependency=tenant_dependency,
        )
    )  # fmt: skip
    part = ConnectionsPart(router, cleanups=[http.close])
    if cipher is not None:
        loop = VerificationLoop(
            pool,
            cipher,
            logins,
            emit,
            interval_seconds=settings.verify_interval_seconds,
            warning_seconds=settings.expiry_warning_seconds,
            refresh_before_seconds=settings.refresh_before_seconds,
        )
        part.background.append(loop.run)
    return part
