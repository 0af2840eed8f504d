"""`python -m services.metrics`: settings → wiring → run until SIGTERM."""

import asyncio

from jobcast.logs import configure_logging
from jobcast.service import run_service
from services.metrics.app import build
from services.metrics.settings import MetricsSettings


async def main() -> None:
    settings = MetricsSettings()
    configure_logging("metrics", settings.log_level)
    service = await build(settings)
    await run_service(service, settings.http_host, settings.port)


if __name__ == "__main__":
    asyncio.run(main())
