"""`python -m services.distributor`: settings → wiring → run until SIGTERM."""

import asyncio

from jobcast.logs import configure_logging
from jobcast.service import run_service
from services.distributor.app import build
from services.distributor.settings import DistributorSettings


async def main() -> None:
    settings = DistributorSettings()
    configure_logging("distributor", settings.log_level)
    service = await build(settings)
    await run_service(service, settings.http_host, settings.port)


if __name__ == "__main__":
    asyncio.run(main())
