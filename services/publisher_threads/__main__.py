"""`python -m services.publisher_threads`: settings → wiring → run until SIGTERM."""

from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_threads.poster import ThreadsPoster
from services.publisher_threads.settings import ThreadsPublisherSettings
from services.publishing.app import build_publisher


async def build(settings: ThreadsPublisherSettings) -> Service:
    poster = ThreadsPoster(settings.container_timing())
    return await build_publisher(settings, Platform.THREADS, poster)


if __name__ == "__main__":
    serve("publisher-threads", ThreadsPublisherSettings, build)
