"""`python -m services.publisher_instagram`: settings → wiring → run until SIGTERM."""

from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_instagram.poster import ContainerTiming, InstagramPoster
from services.publisher_instagram.settings import InstagramPublisherSettings
from services.publishing.app import build_publisher
from services.publishing.platform import graph_api


async def build(settings: InstagramPublisherSettings) -> Service:
    poster = InstagramPoster(
        ContainerTiming(
            inline_wait_seconds=settings.container_inline_wait_seconds,
            poll_interval_seconds=settings.container_poll_seconds,
            resume_after_seconds=settings.container_resume_after_seconds,
            give_up_after_seconds=settings.container_max_wait_seconds,
            quota_retry_seconds=settings.quota_retry_seconds,
        )
    )
    return await build_publisher(
        settings, Platform.INSTAGRAM, poster, graph_api(settings, Platform.INSTAGRAM)
    )


if __name__ == "__main__":
    serve("publisher-instagram", InstagramPublisherSettings, build)
