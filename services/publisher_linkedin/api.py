"""The LinkedIn publisher's `PlatformApi`: one client on one keep-alive session for every
connection (LinkedIn has one host and one login), LinkedIn's error classification."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from jobcast.graph.hosts import LoginKind
from jobcast.graph.pacing import Throttle
from jobcast.graph.session import graph_session
from jobcast.linkedin.client import LinkedInClient
from jobcast.linkedin.errors import classify_linkedin_error
from services.publisher_linkedin.settings import LinkedInPublisherSettings
from services.publishing.platform import PlatformApi


def linkedin_api(
    settings: LinkedInPublisherSettings, *also_close: Callable[[], Awaitable[None]]
) -> Callable[[Throttle], PlatformApi[LinkedInClient]]:
    """Made inside the event loop by `build_publisher`. LinkedIn sends no usage headers, so
    the throttle learns only from 429s (the worker's `rate_limited`)."""

    def make(throttle: Throttle) -> PlatformApi[LinkedInClient]:
        http = graph_session(
            settings.linkedin_api_url,
            timeout_seconds=settings.linkedin_timeout_seconds,
            max_connections=settings.max_connections,
        )
        client = LinkedInClient(http, settings.linkedin_api_version)

        def client_for(login: LoginKind) -> LinkedInClient:
            return client

        async def close() -> None:
            await http.close()
            for extra in also_close:
                await extra()

        return PlatformApi(client_for, classify_linkedin_error, close)

    return make
