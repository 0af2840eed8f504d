"""Classifying Graph API errors by code and subcode (never by HTTP status)."""

from __future__ import annotations

from jobcast.platform_api import Verdict
from schemas.publish import ErrorClass

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 368, 613, 80001, 80002})
# Rate limits on the whole app (not one account) when no subcode narrows them.
APP_WIDE_RATE_LIMIT_CODES = frozenset({4, 341})
_AUTH_CODES = frozenset({3, 10, 102, 190, *range(200, 300)})
# Instagram publishing subcodes whose meaning beats the top-level code.
_IG_SUBCODES: dict[int, tuple[ErrorClass, bool]] = {
    2207001: (ErrorClass.TRANSIENT, False),  # server error
    2207003: (ErrorClass.TRANSIENT, False),  # media download timed out
    2207032: (ErrorClass.TRANSIENT, False),  # server error
    2207052: (ErrorClass.TRANSIENT, False),  # media URL unreachable: nothing was published
    2207027: (ErrorClass.TRANSIENT, False),  # container not ready: keep polling
    2207008: (ErrorClass.TRANSIENT, False),  # container builder expired: new container
    2207006: (ErrorClass.TRANSIENT, False),  # media not found: new container
    2207020: (ErrorClass.TRANSIENT, False),  # media expired: new container
    2207053: (ErrorClass.TRANSIENT, False),  # upload error: new container
    2207051: (ErrorClass.RATE_LIMITED, True),  # spam restriction: may still have posted
    2207042: (ErrorClass.RATE_LIMITED, False),  # daily publishing limit
    2207050: (ErrorClass.PERMANENT, False),  # account restricted
    2207026: (ErrorClass.PERMANENT, False),  # video format
    2207004: (ErrorClass.PERMANENT, False),  # image too big
    2207005: (ErrorClass.PERMANENT, False),  # image format
    2207009: (ErrorClass.PERMANENT, False),  # aspect ratio
    2207010: (ErrorClass.PERMANENT, False),  # caption too long
    2207023: (ErrorClass.PERMANENT, False),  # unknown media type
    2207028: (ErrorClass.PERMANENT, False),  # carousel needs 2-10 children
    2207035: (ErrorClass.PERMANENT, False),  # product tags
    2207036: (ErrorClass.PERMANENT, False),
    2207037: (ErrorClass.PERMANENT, False),
    2207040: (ErrorClass.PERMANENT, False),  # too many tags
}


def classify_graph_error(code: int | None, subcode: int | None) -> Verdict:
    """Map a Graph error to its class; unknown codes are permanent (a human must look)."""
    if subcode is not None and subcode in _IG_SUBCODES:
        error_class, ambiguous = _IG_SUBCODES[subcode]
        return Verdict(error_class, ambiguous)
    if code in (1, 2, -1, -2):
        return Verdict(ErrorClass.TRANSIENT, ambiguous=True)
    if code in _RATE_LIMIT_CODES:
        return Verdict(
            ErrorClass.RATE_LIMITED, app_wide=code in APP_WIDE_RATE_LIMIT_CODES and subcode is None
        )
    if code == 506:
        return Verdict(ErrorClass.ALREADY_POSTED)
    if code in _AUTH_CODES:
        return Verdict(ErrorClass.AUTH)
    return Verdict(ErrorClass.PERMANENT)
