"""LinkedIn's errors (`{"status", "serviceErrorCode", "code", "message"}`) and what they mean
for a post (a `Verdict`).

LinkedIn documents classes by HTTP status, refined by `serviceErrorCode` and the Rest.li
`code`; rate limits are a daily count per application and per member (token), reset at
midnight UTC, answered 429 with no Retry-After and the limit named in the message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobcast.platform_api import PlatformError, Verdict
from schemas.publish import ErrorClass

VERSION_SETTING = "LINKEDIN_API_VERSION"
# `serviceErrorCode` 100 on a 403: the member lacks the permission or the page role.
PERMISSION_DENIED = 100
# Our own codes for an image that could not be fetched for upload (no LinkedIn call made).
MEDIA_UNREACHABLE = "MEDIA_UNREACHABLE"  # no answer, 5xx, 429: try again later
MEDIA_REFUSED = "MEDIA_REFUSED"  # not public, 4xx, too large: no retry will help


class LinkedInError(PlatformError):
    """LinkedIn answered with an error. The message never contains the token.

    `code` is LinkedIn's `serviceErrorCode` (None when absent), `error_code` its Rest.li
    code (`ACCESS_DENIED`, `NONEXISTENT_VERSION`, ...).
    """

    _label = "LinkedIn error"

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        subcode: int | None = None,
        http_status: int | None,
        regain_seconds: float | None = None,
        operation: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(
            message, code=code, subcode=subcode, http_status=http_status,
            regain_seconds=regain_seconds, operation=operation,
        )  # fmt: skip
        self.error_code = error_code

    @property
    def app_wide(self) -> bool:
        """A 429 on the application's daily limit (every member's calls), not one member's."""
        return self.http_status == 429 and "APPLICATION" in self.message.upper()


def classify_linkedin_error(error: PlatformError) -> Verdict:
    """Map a LinkedIn error to its class; unknown ones are permanent (a human must look).

    A 426 (a `LinkedIn-Version` no longer served) is permanent: every call fails the same
    way until the setting is changed, and its message says so.
    """
    status = error.http_status
    error_code = getattr(error, "error_code", None)
    if error_code == MEDIA_UNREACHABLE:
        return Verdict(ErrorClass.TRANSIENT)
    if status == 429:
        app_wide = isinstance(error, LinkedInError) and error.app_wide
        return Verdict(ErrorClass.RATE_LIMITED, app_wide=app_wide)
    if status is not None and status >= 500:
        return Verdict(ErrorClass.TRANSIENT, ambiguous=True)
    return Verdict(_final_class(status, error.code, error_code, error.message))


def _final_class(
    status: int | None, service_code: int | None, error_code: str | None, message: str
) -> ErrorClass:
    denied = service_code == PERMISSION_DENIED or error_code == "ACCESS_DENIED"
    if status == 401 or (status == 403 and denied):
        return ErrorClass.AUTH  # the token is gone, or a page role or a permission is
    if status == 422 and "duplicate" in message.lower():
        return ErrorClass.ALREADY_POSTED
    return ErrorClass.PERMANENT


def seconds_until_reset(now: datetime | None = None) -> float:
    """Seconds until LinkedIn's daily limits reset (midnight UTC)."""
    moment = now or datetime.now(UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - moment).total_seconds())


def regain_seconds_of(status: int, message: str, retry_after: str | None) -> float | None:
    """When a 429'd account (or app) may call again: Retry-After when given, else the next
    daily reset for a DAY limit; None (the publisher's default block) otherwise."""
    if status != 429:
        return None
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after.strip())
    if "DAY" in message.upper():
        return seconds_until_reset()
    return None


def version_message(version: str, message: str) -> str:
    """A 426's message naming the setting to change."""
    return (
        f"LinkedIn does not serve API version {version} ({message}): set {VERSION_SETTING} "
        "to a version LinkedIn serves now (YYYYMM)"
    )
