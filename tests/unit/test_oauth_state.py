"""Facebook Login's pure parts: the signed state, the dialog URL, what gets connected."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from pydantic import SecretStr

from jobcast.crypto import SecretKeyMissingError, generate_key
from jobcast.graph.login import PageGrant
from schemas.platforms import Platform
from services.distributor.oauth import (
    InvalidStateError,
    StateSigner,
    authorize_url,
    callback_url,
    connections_from_pages,
)
from tests.clock import ManualClock

KEY = generate_key()


def signer(keys: str = KEY, clock: ManualClock | None = None) -> StateSigner:
    return StateSigner(
        SecretStr(keys), ttl_seconds=600, clock=clock or ManualClock(1_800_000_000.0)
    )


def test_a_state_round_trips_to_its_tenant() -> None:
    tenant = uuid4()
    state = signer().issue(tenant)
    verified = signer().verify(state)
    assert verified.tenant_id == tenant
    assert verified.expires_at.timestamp() == 1_800_000_000 + 600
    assert len(verified.nonce) >= 16


def test_every_state_has_its_own_nonce() -> None:
    tenant = uuid4()
    states = {signer().issue(tenant) for _ in range(50)}
    assert len(states) == 50
    assert len({signer().verify(s).nonce for s in states}) == 50


def test_the_state_does_not_expose_the_secret_key() -> None:
    state = signer().issue(uuid4())
    assert KEY not in state
    assert KEY.rstrip("=") not in state


@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_altering_any_part_is_refused(part: int) -> None:
    state = signer().issue(uuid4())
    pieces = state.split(".")
    original = pieces[part]
    pieces[part] = ("A" if original[0] != "A" else "B") + original[1:]
    if part == 3:  # keep the expiry numeric: only the signature can catch this
        pieces[part] = str(int(original) + 3600)
    if part == 1:  # another tenant's id
        pieces[part] = uuid4().hex
    with pytest.raises(InvalidStateError, match="signature"):
        signer().verify(".".join(pieces))


@pytest.mark.parametrize(
    "state", ["", "garbage", "v1.x.y.z", "v2.a.b.c.d", "v1.a.b.c.d.e", "....", "v1...."]
)
def test_malformed_states_are_refused(state: str) -> None:
    with pytest.raises(InvalidStateError):
        signer().verify(state)


def test_a_state_signed_with_another_key_is_refused() -> None:
    state = signer(generate_key()).issue(uuid4())
    with pytest.raises(InvalidStateError, match="signature"):
        signer().verify(state)


def test_a_state_expires_after_the_ttl() -> None:
    clock = ManualClock(1_800_000_000.0)
    state = signer(clock=clock).issue(uuid4())
    clock.now += 599
    signer(clock=clock).verify(state)
    clock.now += 1
    with pytest.raises(InvalidStateError, match="expired"):
        signer(clock=clock).verify(state)


def test_states_survive_a_key_rotation_but_not_a_key_removal() -> None:
    old, new = KEY, generate_key()
    state = signer(old).issue(uuid4())
    assert signer(f"{new},{old}").verify(state)  # old key still listed: accepted
    with pytest.raises(InvalidStateError):
        signer(new).verify(state)
    # and new states are signed with the newest key
    fresh = signer(f"{new},{old}").issue(uuid4())
    assert signer(new).verify(fresh)


def test_the_state_key_is_not_the_encryption_key() -> None:
    import base64
    import hashlib
    import hmac

    state = signer().issue(uuid4())
    body, _, signature = state.rpartition(".")
    naive = hmac.new(KEY.encode(), body.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(naive).rstrip(b"=").decode() != signature


def test_no_secret_key_means_no_signer() -> None:
    with pytest.raises(SecretKeyMissingError):
        StateSigner(None)
    with pytest.raises(SecretKeyMissingError):
        StateSigner(SecretStr(" , "))


def test_authorize_url_names_the_app_callback_scopes_and_state() -> None:
    url = authorize_url(
        "https://www.facebook.com/{version}/dialog/oauth",
        version="v24.0",
        app_id="123",
        redirect_uri=callback_url("https://jobcast.example.com/"),
        state="v1.s",
        scopes=["pages_show_list", "pages_manage_posts"],
    )
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("www.facebook.com", "/v24.0/dialog/oauth")
    query = parse_qs(parts.query)
    assert query == {
        "client_id": ["123"],
        "redirect_uri": ["https://jobcast.example.com/v1/connections/facebook/callback"],
        "state": ["v1.s"],
        "scope": ["pages_show_list,pages_manage_posts"],
        "response_type": ["code"],
    }


def test_authorize_url_keeps_a_dialog_query() -> None:
    url = authorize_url(
        "http://127.0.0.1:8090/dialog/oauth?display=page",
        version="v24.0",
        app_id="1",
        redirect_uri="http://x/cb",
        state="s",
        scopes=[],
    )
    assert url.startswith("http://127.0.0.1:8090/dialog/oauth?display=page&client_id=1")


def test_each_page_and_its_instagram_account_become_connections() -> None:
    pages = [
        PageGrant("p1", "Warung Laut", "page-token-1", "ig-1"),
        PageGrant("p2", "Kopi Pagi", "page-token-2", None),
    ]
    found = connections_from_pages(pages)
    assert [(c.platform, c.account_id, c.display_name, c.token) for c in found] == [
        (Platform.FACEBOOK, "p1", "Warung Laut", "page-token-1"),
        (Platform.INSTAGRAM, "ig-1", "Warung Laut", "page-token-1"),
        (Platform.FACEBOOK, "p2", "Kopi Pagi", "page-token-2"),
    ]
    assert "page-token" not in repr(pages) + repr(found)
