"""`python -m services.publisher_threads`: settings → wiring → run until SIGTERM."""

from collections.abc import Callable
from dataclasses import replace

from jobcast.graph.client import GraphClient
from jobcast.graph.pacing import Throttle
from jobcast.service import Service, serve
from schemas.platforms import Platform
from services.publisher_threads.errors import classify_threads_error
from services.publisher_threads.poster import ThreadsPoster
from services.publisher_threads.settings import ThreadsPublisherSettings
from services.publishing.app import build_publisher
from services.publishing.platform import PlatformApi, graph_api


def threads_api(
    settings: ThreadsPublisherSettings,
) -> Callable[[Throttle], PlatformApi[GraphClient]]:
    """The Graph client on graph.threads.net, with Threads' error classification."""
    graph = graph_api(settings, Platform.THREADS)
    return lambda throttle: replace(graph(throttle), classify=classify_threads_error)


async def build(settings: ThreadsPublisherSettings) -> Service:
    poster = ThreadsPoster(settings.container_timing())
    return await build_publisher(settings, Platform.THREADS, poster, threads_api(settings))


if __name__ == "__main__":
    serve("publisher-threads", ThreadsPublisherSettings, build)
