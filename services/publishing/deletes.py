"""Taking a post down where the platform answers "gone" for one deleted already: deletes
are retried, and a retry of one that took effect must not fail."""

from __future__ import annotations

from jobcast.graph.client import GraphClient, GraphError
from services.publishing.posting import Attempt

_NOT_FOUND_SUBCODE = 33  # 100/33 "object does not exist": a delete that already happened


async def delete_post(attempt: Attempt[GraphClient], post_id: str) -> bool:
    """`DELETE /{post-id}`; True once the post is gone."""
    try:
        await attempt.api.call("DELETE", post_id, attempt.token)
    except GraphError as exc:
        if exc.code == 100 and exc.subcode == _NOT_FOUND_SUBCODE:
            return True
        raise
    return True
