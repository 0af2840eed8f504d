"""What a publisher needs of its platform's API besides the poster: a client per
connection login, the platform's error classification, and how to close it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic

import aiohttp

from jobcast.graph.client import GraphClient
from jobcast.graph.errors import classify_graph_error
from jobcast.graph.hosts import GraphHosts, LoginKind
from jobcast.graph.pacing import Throttle
from jobcast.graph.session import graph_session
from jobcast.platform_api import PlatformError, Verdict
from schemas.platforms import Platform
from services.publishing.posting import ApiT
from services.publishing.settings import PublisherSettings


@dataclass(frozen=True, slots=True)
class PlatformApi(Generic[ApiT]):
    client_for: Callable[[LoginKind], ApiT]
    classify: Callable[[PlatformError], Verdict]
    close: Callable[[], Awaitable[None]]


def classify_graph(error: PlatformError) -> Verdict:
    return classify_graph_error(error.code, error.subcode)


def graph_api(
    settings: PublisherSettings, platform: Platform
) -> Callable[[Throttle], PlatformApi[GraphClient]]:
    """The Graph API's hosts on one keep-alive session, for a Meta platform's publisher."""

    def make(throttle: Throttle) -> PlatformApi[GraphClient]:
        http: aiohttp.ClientSession = graph_session(
            settings.graph_api_url,
            timeout_seconds=settings.graph_timeout_seconds,
            max_connections=settings.graph_max_connections,
        )
        hosts = GraphHosts(
            http,
            settings.graph_api_version,
            settings.graph_app_secret,
            instagram_url=settings.graph_instagram_url,
            threads_url=settings.graph_threads_url,
            threads_version=settings.graph_threads_version,
            observe_usage=throttle.observe,
            platform=platform.value,
        )
        return PlatformApi(hosts.for_login, classify_graph, http.close)

    return make
