"""`python -m services.publisher_instagram`: settings → wiring → run until SIGTERM."""

from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_instagram.poster import InstagramPoster
from services.publisher_instagram.settings import InstagramPublisherSettings
from services.publishing.app import build_publisher
from services.publishing.platform import graph_api


async def build(settings: InstagramPublisherSettings) -> Service:
    poster = InstagramPoster(settings.container_timing())
    return await build_publisher(
        settings, Platform.INSTAGRAM, poster, graph_api(settings, Platform.INSTAGRAM)
    )


if __name__ == "__main__":
    serve("publisher-instagram", InstagramPublisherSettings, build)
