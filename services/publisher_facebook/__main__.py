"""`python -m services.publisher_facebook`: settings → wiring → run until SIGTERM."""

from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_facebook.poster import FacebookPoster
from services.publisher_facebook.settings import FacebookPublisherSettings
from services.publishing.app import build_publisher


async def build(settings: FacebookPublisherSettings) -> Service:
    return await build_publisher(settings, Platform.FACEBOOK, FacebookPoster())


if __name__ == "__main__":
    serve("publisher-facebook", FacebookPublisherSettings, build)
