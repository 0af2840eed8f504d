"""Stand-ins for the publishing worker's collaborators in unit tests."""

from __future__ import annotations

from typing import Any


class NoGraphHosts:
    """For a poster that never calls Meta: no client is needed for either login."""

    def for_login(self, login: Any) -> Any:
        return None
