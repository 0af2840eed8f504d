"""`python -m services.publisher_facebook`: settings → wiring → run until SIGTERM."""

import asyncio

from jobcast.logs import configure_logging
from jobcast.service import run_service
from schemas.platforms import Platform
from services.publisher_facebook.poster import FacebookPoster
from services.publisher_facebook.settings import FacebookPublisherSettings
from services.publishing.app import build_publisher


async def main() -> None:
    settings = FacebookPublisherSettings()
    configure_logging("publisher-facebook", settings.log_level)
    service = await build_publisher(settings, Platform.FACEBOOK, FacebookPoster())
    await run_service(service, settings.http_host, settings.port)


if __name__ == "__main__":
    asyncio.run(main())
