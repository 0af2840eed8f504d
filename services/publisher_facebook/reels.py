"""Meta's upload host for Page Reels (rupload): Meta fetches the video from its URL.

The Reels flow is start (Graph) → upload (here) → finish (Graph). The upload names the
session's video id, so doing it again is harmless; an answer that says nothing clear
is ambiguous, and the poster reconciles by the video's own status.
"""

from __future__ import annotations

import json

import aiohttp
from yarl import URL

from jobcast.graph.client import GraphError
from jobcast.platform_api import AmbiguousOutcomeError


class ReelUploader:
    """`POST {upload host}/video-upload/{version}/{video id}` with the video's URL."""

    def __init__(self, http: aiohttp.ClientSession, version: str) -> None:
        self._http = http  # base URL: the upload host (a setting; the sandbox in tests)
        self._version = version

    async def upload(self, video_id: str, file_url: str, token: str) -> None:
        """Have Meta fetch `file_url` into the upload session `video_id`."""
        url = URL.build(path=f"video-upload/{self._version}/{video_id}")
        headers = {"Authorization": f"OAuth {token}", "file_url": file_url}
        failure = ""
        try:
            async with self._http.post(url, headers=headers, allow_redirects=False) as response:
                status = response.status
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__  # never the exception's text: it may hold the URL
        if failure:
            raise AmbiguousOutcomeError(f"reel upload: {failure}")
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AmbiguousOutcomeError(f"reel upload: HTTP {status} without a body")
        if isinstance(body.get("error"), dict):
            error = body["error"]
            raise GraphError(
                _scrub(str(error.get("message", "")), token),
                code=error.get("code") if isinstance(error.get("code"), int) else None,
                subcode=(
                    error.get("error_subcode")
                    if isinstance(error.get("error_subcode"), int)
                    else None
                ),
                http_status=status,
            )
        debug = body.get("debug_info")
        if isinstance(debug, dict):  # the upload host's own failure shape
            message = _scrub(str(debug.get("message", "upload failed")), token)
            if debug.get("retriable"):
                raise AmbiguousOutcomeError(f"reel upload: {message}")
            raise GraphError(f"reel upload: {message}", code=None, subcode=None, http_status=status)
        if status >= 500 or body.get("success") is not True:
            raise AmbiguousOutcomeError(f"reel upload: HTTP {status} without success")


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "[redacted]") if token else text
