"""Running a service: its HTTP server (API + ops endpoints) beside its Kafka consumers.

Every service exposes `/healthz` (the process is alive), `/readyz` (its broker and
database answer) and `/metrics` (Prometheus), and stops gracefully on SIGTERM:
HTTP stops accepting, consumers finish the record in hand and commit, pools close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import uvicorn
import uvloop
from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jobcast.logs import configure_logging

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[object]]
Cleanup = Callable[[], Awaitable[None]]
BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A long-running task that returns soon after the event is set (e.g. a timer loop)."""


def add_ops_routes(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    """Mount the liveness, readiness and metrics endpoints (kept out of the OpenAPI doc)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(response: Response) -> dict[str, object]:
        failed = []
        for name, check in checks.items():
            try:
                answer = await asyncio.wait_for(check(), timeout=2.0)
            except Exception:
                answer = False
            if answer is False:  # a check fails by raising or by answering False
                failed.append(name)
        response.status_code = 503 if failed else 200
        return {"ready": not failed, "failed": failed}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@dataclass
class Service:
    """The parts of one running service, assembled by its `app.py`."""

    name: str
    app: FastAPI
    broker: KafkaBroker | None = None
    cleanups: list[Cleanup] = field(default_factory=list)
    background: list[BackgroundLoop] = field(default_factory=list)


class _QuietServer(uvicorn.Server):
    # The service owns signal handling, so shutdown order stays ours.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def run_service(service: Service, host: str, port: int) -> None:
    """Start consumers and HTTP, then wait for SIGTERM/SIGINT and stop in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    server = _QuietServer(
        uvicorn.Config(
            service.app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    if service.broker is not None:
        await service.broker.start()
    stopping = asyncio.Event()
    loops = [
        asyncio.create_task(loop_fn(stopping), name=f"{service.name}-background")
        for loop_fn in service.background
    ]
    http = asyncio.create_task(server.serve(), name=f"{service.name}-http")
    log.info("service started", extra={"port": port})
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({http, waiter}, return_when=asyncio.FIRST_COMPLETED)
    log.info("service stopping")

    server.should_exit = True
    stopping.set()
    await asyncio.gather(*loops, return_exceptions=True)
    if service.broker is not None:
        await service.broker.stop()  # waits for the handler in hand, then commits
    await http
    waiter.cancel()
    for cleanup in reversed(service.cleanups):
        await cleanup()
    log.info("service stopped")


class ServiceSettings(Protocol):
    """What `serve` needs from a service's settings."""

    @property
    def log_level(self) -> str: ...
    @property
    def http_host(self) -> str: ...
    @property
    def port(self) -> int: ...


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def serve(
    name: str,
    load_settings: Callable[[], SettingsT],
    build: Callable[[SettingsT], Awaitable[Service]],
) -> None:
    """A service's whole entry point: settings → logging → wiring → run until SIGTERM."""

    async def main() -> None:
        settings = load_settings()
        configure_logging(name, settings.log_level)
        await run_service(await build(settings), settings.http_host, settings.port)

    uvloop.run(main())
