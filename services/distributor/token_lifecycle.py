"""When a connection's token is refreshed, and how near its end it is (pure).

Instagram Login and Threads tokens live 60 days and can be refreshed once they are 24 h
old, until they expire. Facebook Page tokens made from a long-lived user token do not expire on a
clock. A short-lived Facebook user token (an hour or two, e.g. added by hand) is exchanged
for a long-lived one (`fb_exchange_token`); a long-lived one cannot be extended without the
person logging in again, so it is announced as expiring instead. A LinkedIn access token
lives 60 days and is refreshed with its refresh token, even once expired, for as long as
that lives (365 days from the member's consent, not extended by refreshing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from jobcast.graph.hosts import LoginKind
from jobcast.graph.user_login import REFRESHABLE_AFTER

# A Facebook user token issued to live this long at most is a short-lived one.
SHORT_LIVED_AT_MOST = timedelta(days=1)
# Logins whose long-lived tokens are refreshed once they are old enough (`REFRESHABLE_AFTER`).
REFRESHED_WHEN_OLD_ENOUGH = frozenset({LoginKind.INSTAGRAM, LoginKind.THREADS})


class Expiry(StrEnum):
    NEVER = "never"  # does not expire on a clock
    FINE = "fine"
    EXPIRING = "expiring"  # within the warning window
    EXPIRED = "expired"


def expiry_state(expires_at: datetime | None, *, now: datetime, warning: timedelta) -> Expiry:
    """Where a token stands against its expiry."""
    if expires_at is None:
        return Expiry.NEVER
    if expires_at <= now:
        return Expiry.EXPIRED
    return Expiry.EXPIRING if expires_at - now <= warning else Expiry.FINE


def refresh_due(
    login: LoginKind,
    *,
    issued_at: datetime | None,
    expires_at: datetime | None,
    now: datetime,
    refresh_before: timedelta,
    refresh_token_until: datetime | None = None,
) -> bool:
    """Whether the check should refresh this token now: it expires within `refresh_before`,
    has not expired (an expired token cannot be refreshed), and, for Instagram Login and
    Threads, is old enough for Meta to refresh it (a token of unknown age is tried); a
    Facebook token only when it is short-lived (issued to live a day at most); a LinkedIn
    token while its refresh token (`refresh_token_until`; None: none) lives, expired or
    not."""
    if login is LoginKind.LINKEDIN:
        return (
            expires_at is not None
            and expires_at - now <= refresh_before
            and refresh_token_until is not None
            and refresh_token_until > now
        )
    if expires_at is None or expires_at <= now or expires_at - now > refresh_before:
        return False
    if login in REFRESHED_WHEN_OLD_ENOUGH:
        return issued_at is None or now - issued_at >= REFRESHABLE_AFTER
    return issued_at is not None and expires_at - issued_at <= SHORT_LIVED_AT_MOST
