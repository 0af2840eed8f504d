"""`python -m services.publisher_instagram`: settings → wiring → run until SIGTERM."""

import asyncio

from jobcast.logs import configure_logging
from jobcast.service import run_service
from schemas.platforms import Platform
from services.publisher_instagram.poster import InstagramPoster
from services.publisher_instagram.settings import InstagramPublisherSettings
from services.publishing.app import build_publisher


async def main() -> None:
    settings = InstagramPublisherSettings()
    configure_logging("publisher-instagram", settings.log_level)
    poster = InstagramPoster(settings.container_poll_seconds, settings.container_max_wait_seconds)
    service = await build_publisher(settings, Platform.INSTAGRAM, poster)
    await run_service(service, settings.http_host, settings.port)


if __name__ == "__main__":
    asyncio.run(main())
