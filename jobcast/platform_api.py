"""What any platform's API client raises, and what an error means for a post.

Neutral on purpose: the Graph client (Facebook, Instagram, Threads) and other platforms'
clients raise these, each platform classifies its own errors into a `Verdict`, and the
publish worker acts on the verdict alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.publish import ErrorClass


class PlatformError(Exception):
    """The platform answered with an error. The message never contains a token.

    `operation` names the call for a reader (e.g. a token exchange); such an error may
    also stand for no answer at all (`code` and `http_status` None).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        subcode: int | None,
        http_status: int | None,
        regain_seconds: float | None = None,
        operation: str | None = None,
    ) -> None:
        if operation is None:
            super().__init__(f"{self._label} {code}/{subcode} (HTTP {http_status}): {message}")
        else:
            where = f"code {code}/{subcode}" if code is not None else f"HTTP {http_status}"
            super().__init__(f"{operation} failed ({where}): {message}")
        self.message = message
        self.operation = operation
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.regain_seconds = regain_seconds

    _label = "platform error"


class AmbiguousOutcomeError(Exception):
    """The call may or may not have taken effect: timeout, reset, or a 5xx with no body."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an error means for the post.

    `ambiguous`: the call may have taken effect anyway (platforms answer 'please retry'
    to creates that succeeded), so the post must be reconciled, never blindly redone.
    `app_wide`: a rate limit on the whole app, not on one account.
    """

    error_class: ErrorClass
    ambiguous: bool = False
    app_wide: bool = False
