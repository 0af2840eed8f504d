"""Threads errors: the Graph error shape and Meta's codes, plus what the Threads API adds.

Publishing a container that is not FINISHED (processing, in ERROR, EXPIRED, or unknown)
is refused with 24/4279009 "Media Not Found" and publishes nothing: transient, not
ambiguous (the container's state then tells what to do). Everything else is classified as
on the Graph API (`jobcast.graph.errors`).
"""

from __future__ import annotations

from jobcast.graph.errors import classify_graph_error
from jobcast.platform_api import PlatformError, Verdict
from schemas.publish import ErrorClass

MEDIA_NOT_FOUND = 4279009


def classify_threads_error(error: PlatformError) -> Verdict:
    """The verdict on a Threads API error."""
    if error.subcode == MEDIA_NOT_FOUND:
        return Verdict(ErrorClass.TRANSIENT)
    return classify_graph_error(error.code, error.subcode)
