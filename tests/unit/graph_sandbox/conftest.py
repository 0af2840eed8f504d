"""Fixtures: a sandbox on a fake clock, served in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings, SandboxState, create_app

from .helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A controllable clock so expiry, processing and windows need no real waiting."""
    return FakeClock()


@pytest.fixture
def settings() -> SandboxSettings:
    """Default settings; tests tweak fields before the state is built."""
    return SandboxSettings()


@pytest.fixture
def state(settings: SandboxSettings, clock: FakeClock) -> SandboxState:
    """The pure sandbox state behind the app."""
    return SandboxState(settings, clock=clock)


@pytest.fixture
async def client(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``create_app(state)`` without a socket."""
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http
