"""Fetching a job's image for upload: LinkedIn takes an image's bytes, not its URL.

Media URLs are the tenant's: they are fetched from public addresses only
(`jobcast.public_http`), bounded in size, following no redirect.
"""

from __future__ import annotations

from typing import Protocol

from jobcast.http_client import HttpClient, NoAnswerError
from jobcast.linkedin.errors import MEDIA_REFUSED, MEDIA_UNREACHABLE, LinkedInError
from jobcast.public_http import DestinationRefusedError


class MediaSource(Protocol):
    """Where a poster gets an image's bytes."""

    async def fetch(self, url: str) -> bytes:
        """The bytes at `url`, or `LinkedInError` (`MEDIA_UNREACHABLE`: try again later;
        `MEDIA_REFUSED`: the URL will not give an image)."""
        ...


class HttpMediaSource:
    """GET the media URL (or, in development, `{relay}?url=<media URL>`)."""

    def __init__(self, http: HttpClient, *, relay_url: str | None = None) -> None:
        self._http = http
        self._relay_url = relay_url

    async def fetch(self, url: str) -> bytes:
        target, params = (url, None) if self._relay_url is None else (self._relay_url, {"url": url})
        try:
            answer = await self._http.exchange("GET", target, params=params)
        except DestinationRefusedError as exc:
            raise _refused(f"the image's host is not public ({exc})") from None
        except NoAnswerError as exc:
            if exc.kind == "ClientPayloadError":  # over the size bound (or a broken body)
                raise _refused(
                    "the image is larger than PUBLISHER_LINKEDIN_IMAGE_MAX_BYTES "
                    "(or its body was broken)"
                ) from None
            raise LinkedInError(
                f"could not fetch the image ({exc.kind})", code=None, http_status=None,
                error_code=MEDIA_UNREACHABLE,
            ) from None  # fmt: skip
        if answer.status >= 500 or answer.status == 429:
            raise LinkedInError(
                f"the image's host answered HTTP {answer.status}", code=None, http_status=None,
                error_code=MEDIA_UNREACHABLE,
            )  # fmt: skip
        if answer.status != 200 or not answer.body:
            raise _refused(f"the image's URL answered HTTP {answer.status}")
        return answer.body

    async def close(self) -> None:
        await self._http.close()


def _refused(reason: str) -> LinkedInError:
    return LinkedInError(reason, code=None, http_status=None, error_code=MEDIA_REFUSED)
