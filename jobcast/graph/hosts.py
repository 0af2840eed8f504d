"""Which Graph host a connection's calls go to: the one place that decides it.

A connection made with Facebook Login acts through graph.facebook.com (a Page token);
one made with Instagram's own login (Instagram API with Instagram Login) acts through
graph.instagram.com with an Instagram user token. The container and publish endpoints are
the same on both.
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


class GraphHosts:
    """A Graph client per login kind, sharing one HTTP session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        version: str,
        app_secret: SecretStr | None,
        *,
        instagram_url: str,
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
        }

    def for_login(self, login: LoginKind) -> GraphClient:
        """The client for a connection made with `login`."""
        return self._clients[login]

    @property
    def facebook(self) -> GraphClient:
        return self._clients[LoginKind.FACEBOOK]
