"""Fixtures: the fake LinkedIn on a fake clock, in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devtools.graph_sandbox import SandboxState, create_app
from tests.unit.graph_sandbox.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when told to."""
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SandboxState:
    """The sandbox state (its LinkedIn data: ``state.linkedin``)."""
    return SandboxState(clock=clock)


@pytest.fixture
async def client(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the sandbox app without a socket."""
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http
