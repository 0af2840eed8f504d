"""What the console says after "Verify now" (pure)."""

from __future__ import annotations

from services.console.views import verification_flash

CONNECTION = {"display_name": "kopi.pagi"}


def test_a_working_refreshed_token_is_reported_with_its_expiry() -> None:
    kind, text = verification_flash({
        "connection": CONNECTION, "checked": True, "valid": True, "refreshed": True,
        "expires_at": "2026-11-01T00:00:00Z", "missing_scopes": [],
    })  # fmt: skip
    assert kind == "ok"
    assert text.startswith("kopi.pagi: access works")
    assert "renewed" in text


def test_a_dead_token_asks_to_reconnect_and_an_unchecked_one_says_why() -> None:
    dead = verification_flash(
        {"connection": CONNECTION, "checked": True, "valid": False, "problem": "token expired"}
    )
    assert dead == ("error", "kopi.pagi: access no longer works (token expired); reconnect it.")
    unchecked = verification_flash(
        {"connection": CONNECTION, "checked": False, "error": "Meta unreachable"}
    )
    assert unchecked == ("error", "Could not verify kopi.pagi now: Meta unreachable")


def test_missing_permissions_are_named() -> None:
    _, text = verification_flash({
        "connection": CONNECTION, "checked": True, "valid": True, "expires_at": None,
        "missing_scopes": ["instagram_business_content_publish"],
    })  # fmt: skip
    assert "does not expire" in text
    assert "Missing permissions: instagram_business_content_publish." in text
