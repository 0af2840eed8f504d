"""`python -m services.publisher_facebook`: settings → wiring → run until SIGTERM."""

from jobcast.graph.session import graph_session
from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_facebook.poster import FacebookPoster
from services.publisher_facebook.reels import ReelUploader
from services.publisher_facebook.settings import FacebookPublisherSettings
from services.publishing.app import build_publisher
from services.publishing.platform import graph_api


async def build(settings: FacebookPublisherSettings) -> Service:
    uploads = graph_session(settings.rupload_url, timeout_seconds=settings.graph_timeout_seconds)
    reels = ReelUploader(uploads, settings.graph_api_version)
    service = await build_publisher(
        settings, Platform.FACEBOOK, FacebookPoster(reels), graph_api(settings, Platform.FACEBOOK)
    )
    service.cleanups.append(uploads.close)
    return service


if __name__ == "__main__":
    serve("publisher-facebook", FacebookPublisherSettings, build)
