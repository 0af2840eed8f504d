"""Which Graph host a connection's calls go to: the one place that decides it.

A connection made with Facebook Login acts through graph.facebook.com (a Page token);
one made with Instagram's own login (Instagram API with Instagram Login) acts through
graph.instagram.com with an Instagram user token (the container and publish endpoints are
the same on both); a Threads connection acts through graph.threads.net. LinkedIn is no
Graph host: its connections are served by jobcast.linkedin.
"""

from __future__ import annotations

from enum import StrEnum

import aiohttp
from pydantic import SecretStr

from jobcast.graph.client import GraphClient, UsageObserver


class LoginKind(StrEnum):
    """How a connection was made, so which host and which token rules apply to it."""

    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    THREADS = "threads"
    LINKEDIN = "linkedin"


class GraphHosts:
    """A Graph client per login kind, sharing one HTTP session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        version: str,
        app_secret: SecretStr | None,
        *,
        instagram_url: str,
        threads_url: str = "https://graph.threads.net",
        threads_version: str = "v1.0",
        observe_usage: UsageObserver | None = None,
        platform: str = "",
    ) -> None:
        self._clients = {
            LoginKind.FACEBOOK: GraphClient(
                http, version, app_secret, observe_usage, platform=platform
            ),
            # Instagram-Login tokens belong to the Instagram app, not the Meta app whose
            # secret GRAPH_APP_SECRET is: no appsecret_proof is sent with them.
            LoginKind.INSTAGRAM: GraphClient(
                http, version, None, observe_usage, platform=platform, base_url=instagram_url
            ),
            # Threads tokens belong to the Threads app: no appsecret_proof either.
            LoginKind.THREADS: GraphClient(
                http, threads_version, None, observe_usage, platform=platform, base_url=threads_url
            ),
        }

    def for_login(self, login: LoginKind) -> GraphClient:
        """The client for a connection made with `login`."""
        client = self._clients.get(login)
        if client is None:
            raise ValueError(f"a {login} connection is not served by the Graph API")
        return client

    @property
    def facebook(self) -> GraphClient:
        return self._clients[LoginKind.FACEBOOK]
