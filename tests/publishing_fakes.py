"""Stand-ins for the publishing worker's collaborators in unit tests."""

from __future__ import annotations

from typing import Any

from services.publishing.platform import PlatformApi, classify_graph


def no_platform_api() -> PlatformApi[Any]:
    """For a poster that never calls its platform: no client for any login."""

    async def close() -> None:
        return None

    return PlatformApi(lambda login: None, classify_graph, close)
