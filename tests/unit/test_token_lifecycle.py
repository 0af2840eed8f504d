"""When a token is refreshed and how near its end it is (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobcast.graph.hosts import LoginKind
from jobcast.graph.login import TokenInfo
from schemas.platforms import Platform
from services.distributor.token_lifecycle import Expiry, expiry_state, refresh_due
from services.distributor.verification import assess

NOW = datetime(2026, 9, 1, tzinfo=UTC)
DAY = timedelta(days=1)
WEEK = 7 * DAY
MONTH = 30 * DAY


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (None, Expiry.NEVER),
        (NOW - timedelta(seconds=1), Expiry.EXPIRED),
        (NOW, Expiry.EXPIRED),
        (NOW + 6 * DAY, Expiry.EXPIRING),
        (NOW + WEEK, Expiry.EXPIRING),
        (NOW + WEEK + timedelta(seconds=1), Expiry.FINE),
    ],
)
def test_expiry_state(expires_at: datetime | None, expected: Expiry) -> None:
    assert expiry_state(expires_at, now=NOW, warning=WEEK) is expected


@pytest.mark.parametrize(
    ("issued_ago", "expires_in", "due"),
    [
        (40 * DAY, 20 * DAY, True),  # within the window, old enough
        (23 * DAY, 37 * DAY, False),  # not yet within the window
        (timedelta(hours=23), 2 * DAY, False),  # within the window but under 24 h old
        (timedelta(hours=24), 2 * DAY, True),  # exactly 24 h old: Meta refreshes it
        (61 * DAY, -DAY, False),  # expired: cannot be refreshed, only reconnected
    ],
)
@pytest.mark.parametrize("login", [LoginKind.INSTAGRAM, LoginKind.THREADS])
def test_instagram_login_and_threads_refresh(
    login: LoginKind, issued_ago: timedelta, expires_in: timedelta, due: bool
) -> None:
    assert (
        refresh_due(
            login,
            issued_at=NOW - issued_ago,
            expires_at=NOW + expires_in,
            now=NOW,
            refresh_before=MONTH,
        )
        is due
    )


def test_facebook_tokens_refresh_only_when_short_lived() -> None:
    def due(expires_at: datetime | None) -> bool:
        return refresh_due(
            LoginKind.FACEBOOK, issued_at=NOW, expires_at=expires_at, now=NOW,
            refresh_before=MONTH,
        )  # fmt: skip

    # A Page token never; a short-lived user token yes; a long-lived one cannot be extended.
    assert (due(None), due(NOW + timedelta(hours=2)), due(NOW + 3 * DAY)) == (False, True, False)


def test_instagram_login_scopes_are_judged_by_their_own_names() -> None:
    granted = frozenset({"instagram_business_basic", "instagram_business_content_publish"})
    ok = assess(
        TokenInfo(True, NOW + MONTH, granted),
        Platform.INSTAGRAM,
        now=NOW,
        warning=WEEK,
        login=LoginKind.INSTAGRAM,
    )
    assert (ok.valid, ok.missing_scopes, ok.problem) == (True, (), "")
    lacking = assess(
        TokenInfo(True, NOW + MONTH, frozenset({"instagram_business_basic"})),
        Platform.INSTAGRAM,
        now=NOW,
        warning=WEEK,
        login=LoginKind.INSTAGRAM,
    )
    assert lacking.missing_scopes == ("instagram_business_content_publish",)


def test_an_expired_token_is_invalid_and_says_so() -> None:
    health = assess(
        TokenInfo(True, NOW - DAY, frozenset()), Platform.FACEBOOK, now=NOW, warning=WEEK
    )
    assert (health.valid, health.expired, health.expiring, health.problem) == (
        False,
        True,
        False,
        "token expired",
    )


@pytest.mark.parametrize(
    ("expires_in", "refresh_left", "due"),
    [
        (40 * DAY, 300 * DAY, False),  # not within the window yet
        (MONTH, 300 * DAY, True),
        (-DAY, 300 * DAY, True),  # an expired access token is renewed with the refresh token
        (5 * DAY, -DAY, False),  # the refresh token is dead: the member must consent again
        (5 * DAY, None, False),  # no refresh token at all (added by hand without one)
    ],
)
def test_linkedin_tokens_refresh_while_their_refresh_token_lives(
    expires_in: timedelta, refresh_left: timedelta | None, due: bool
) -> None:
    assert (
        refresh_due(
            LoginKind.LINKEDIN,
            issued_at=NOW - 20 * DAY,
            expires_at=NOW + expires_in,
            now=NOW,
            refresh_before=MONTH,
            refresh_token_until=None if refresh_left is None else NOW + refresh_left,
        )
        is due
    )


def test_linkedin_tokens_need_posting_and_reading_as_the_organization() -> None:
    info = TokenInfo(True, NOW + 60 * DAY, frozenset({"w_organization_social"}))
    health = assess(info, Platform.LINKEDIN, now=NOW, warning=WEEK, login=LoginKind.LINKEDIN)
    assert health.missing_scopes == ("r_organization_social",)
    assert health.problem == "missing scopes: r_organization_social"
