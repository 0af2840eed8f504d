"""Instagram carousels and reels: children first, each FINISHED; Meta's reason on ERROR."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from jobcast.graph.errors import classify_graph_error
from schemas import ErrorClass, MediaItem, MediaKind
from services.publisher_instagram.poster import InstagramPoster
from services.publishing.containers import ContainerFailedError
from services.publishing.posting import NotReadyError
from tests.unit.test_instagram_poster import FAST, QUOTA, ScriptedGraph, attempt_for

pytestmark = pytest.mark.timeout(10)


def photo(n: int, alt: str | None = None) -> MediaItem:
    return MediaItem(kind=MediaKind.IMAGE, url=f"https://cdn.example.com/{n}.jpg", alt_text=alt)


CLIP = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/clip.mp4")


class CarouselGraph(ScriptedGraph):
    """Containers numbered in creation order; each answers its scripted states in turn."""

    def __init__(self, states: dict[str, list[dict[str, str]]]) -> None:
        super().__init__(container_states=[])
        self.states = states
        self.created: list[dict[str, list[str]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        last = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(f"{request.method} {last}")
        answer: dict[str, Any]
        if request.method == "POST" and last == "media":
            self.created.append(parse_qs(request.content.decode()))
            answer = {"id": f"c{len(self.created)}"}
        elif request.method == "GET" and last in self.states:
            script = self.states[last]
            answer = script.pop(0) if len(script) > 1 else script[0]
        elif last == "content_publishing_limit":
            answer = {"data": [QUOTA]}
        elif last == "media_publish":
            answer = {"id": "m1", "permalink": "https://www.instagram.com/p/m1/"}
        else:
            return httpx.Response(400, json={"error": {"message": "unexpected", "code": 100}})
        return httpx.Response(200, json=answer)


FINISHED = {"status_code": "FINISHED"}
IN_PROGRESS = {"status_code": "IN_PROGRESS"}


async def test_a_carousel_waits_for_every_child_before_its_own_container() -> None:
    graph = CarouselGraph({"c1": [FINISHED], "c2": [IN_PROGRESS, FINISHED], "c3": [FINISHED]})
    attempt, close = await attempt_for(graph, [photo(1, "a cook"), photo(2), CLIP])
    posted = await InstagramPoster(FAST).publish(attempt)
    await close()
    assert posted.platform_post_id == "m1"
    parent_at = len(graph.calls) - 1 - graph.calls[::-1].index("POST media")
    assert graph.calls[:parent_at].count("GET c2") == 2  # polled until FINISHED, then parent
    children, parent = graph.created[:3], graph.created[3]
    assert [c.get("alt_text") for c in children] == [["a cook"], None, None]
    assert [c.get("media_type") for c in children] == [None, None, ["VIDEO"]]
    assert all(c["is_carousel_item"] == ["true"] for c in children)
    assert parent["media_type"] == ["CAROUSEL"]
    assert parent["children"] == ["c1,c2,c3"]
    assert graph.calls.count("GET content_publishing_limit") == 1  # the carousel counts once


async def test_children_are_checkpointed_and_a_slow_child_hands_the_attempt_back() -> None:
    graph = CarouselGraph({"c1": [FINISHED], "c2": [IN_PROGRESS]})
    attempt, close = await attempt_for(graph, [photo(1), photo(2)])
    with pytest.raises(NotReadyError):
        await InstagramPoster(FAST).publish(attempt)
    assert attempt.progress["children"] == ["c1", "c2"]
    assert "container_id" not in attempt.progress
    graph.states["c2"] = [FINISHED]
    await InstagramPoster(FAST).publish(attempt)  # resumes: no new children
    await close()
    assert len(graph.created) == 3


async def test_a_child_in_error_fails_the_carousel_with_metas_reason() -> None:
    status = "Error: Media upload has failed with error code 2207026"
    error = {"status_code": "ERROR", "status": status}
    graph = CarouselGraph({"c1": [FINISHED], "c2": [error]})
    attempt, close = await attempt_for(graph, [photo(1), CLIP])
    with pytest.raises(ContainerFailedError) as failed:
        await InstagramPoster(FAST).publish(attempt)
    await close()
    assert failed.value.subcode == 2207026
    assert "carousel item 2" in failed.value.message
    assert "2207026" in failed.value.message
    assert classify_graph_error(None, failed.value.subcode).error_class is ErrorClass.PERMANENT
    assert attempt.progress == {}  # the next try starts over
    assert "media_publish" not in " ".join(graph.calls)


async def test_a_reel_is_polled_until_finished_and_its_error_is_surfaced_by_code() -> None:
    graph = CarouselGraph({"c1": [IN_PROGRESS, FINISHED]})
    attempt, close = await attempt_for(graph, [CLIP])
    await InstagramPoster(FAST).publish(attempt)
    assert graph.created[0]["media_type"] == ["REELS"]
    assert graph.created[0]["share_to_feed"] == ["true"]
    assert graph.calls.count("GET c1") == 2
    failing = CarouselGraph({"c1": [{"status_code": "ERROR", "status": "error code: 2207003"}]})
    attempt, close2 = await attempt_for(failing, [CLIP])
    with pytest.raises(ContainerFailedError) as failed:
        await InstagramPoster(FAST).publish(attempt)
    await close()
    await close2()
    assert failed.value.subcode == 2207003  # download timed out: transient, a new container
    assert not failed.value.message.startswith("carousel")
