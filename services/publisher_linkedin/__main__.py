"""`python -m services.publisher_linkedin`: settings → wiring → run until SIGTERM."""

from jobcast.http_client import http_client
from jobcast.public_http import public_only_client
from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_linkedin.api import linkedin_api
from services.publisher_linkedin.media import HttpMediaSource
from services.publisher_linkedin.poster import ImageTiming, LinkedInPoster
from services.publisher_linkedin.settings import LinkedInPublisherSettings
from services.publishing.app import build_publisher


async def build(settings: LinkedInPublisherSettings) -> Service:
    timeout = settings.image_fetch_timeout_seconds
    relay = settings.media_relay_url or None  # set empty: no relay
    fetcher = (
        public_only_client(timeout_seconds=timeout, max_answer_bytes=settings.image_max_bytes)
        if relay is None
        else http_client(timeout_seconds=timeout, max_answer_bytes=settings.image_max_bytes)
    )
    media = HttpMediaSource(fetcher, relay_url=relay)
    poster = LinkedInPoster(
        media,
        ImageTiming(
            inline_wait_seconds=settings.image_inline_wait_seconds,
            poll_interval_seconds=settings.image_poll_seconds,
            resume_after_seconds=settings.image_resume_after_seconds,
            give_up_after_seconds=settings.image_max_wait_seconds,
        ),
    )
    return await build_publisher(
        settings, Platform.LINKEDIN, poster, linkedin_api(settings, media.close)
    )


if __name__ == "__main__":
    serve("publisher-linkedin", LinkedInPublisherSettings, build)
