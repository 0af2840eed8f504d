"""`GET /{threads-media-id}/insights?metric=...` on the Threads host.

Meta's media metrics: views, likes, replies, reposts, quotes, shares, each a lifetime
value. Replies are the post's real replies here (a first comment is one); the others are
deterministic made-up counts. A deleted post is gone (100/33); an unknown metric is
refused naming the ones there are; a profile registered with a permission list needs
`threads_manage_insights`.
"""

from __future__ import annotations

from .call import Call
from .common import fake_count
from .errors import JSONDict, invalid_param, missing_param, unsupported_request
from .state import SandboxState

# Metric → the bound of its made-up count (replies are counted, not made up).
THREADS_MEDIA_METRICS: dict[str, int] = {
    "views": 9_000,
    "likes": 400,
    "replies": 0,
    "reposts": 40,
    "quotes": 20,
    "shares": 30,
}
_NO_PERMISSION = "(#10) Application does not have permission for this action"


def media_insights(state: SandboxState, call: Call) -> JSONDict:
    """A Threads post's lifetime metrics, as Meta shapes them."""
    media_id = call.target_id or ""
    media = state.threads.media.get(media_id)
    if media is None or media.deleted_at is not None:
        raise unsupported_request("GET", media_id)
    state.require_permission(media.user_id, "threads_manage_insights", 10, _NO_PERMISSION)
    metrics = call.params.csv("metric")
    if not metrics:
        raise missing_param("metric")
    for index, metric in enumerate(metrics):
        if metric not in THREADS_MEDIA_METRICS:
            allowed = ", ".join(THREADS_MEDIA_METRICS)
            raise invalid_param(f"metric[{index}] must be one of the following values: {allowed}")
    return {"data": [_metric(state, media_id, metric) for metric in metrics]}


def _metric(state: SandboxState, media_id: str, metric: str) -> JSONDict:
    if metric == "replies":
        live = state.threads.replies_by_media.get(media_id, [])
        value = sum(1 for reply in live if reply.deleted_at is None)
    else:
        value = fake_count(media_id, metric, THREADS_MEDIA_METRICS[metric])
    return {
        "name": metric,
        "period": "lifetime",
        "values": [{"value": value}],
        "title": metric.capitalize(),
        "description": f"The number of {metric} of the post.",
        "id": f"{media_id}/insights/{metric}/lifetime",
    }
