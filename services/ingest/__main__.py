"""`python -m services.ingest`: settings → wiring → run until SIGTERM."""

import asyncio

from jobcast.logs import configure_logging
from jobcast.service import run_service
from services.ingest.app import build
from services.ingest.settings import IngestSettings


async def main() -> None:
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level)
    service = await build(settings)
    await run_service(service, settings.http_host, settings.port)


if __name__ == "__main__":
    asyncio.run(main())
