"""Tokens at rest: encryption, rotation, and keys that never leak into errors."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from jobcast.crypto import SecretKeyMissingError, TokenCipher, TokenDecryptError, generate_key


def test_round_trip_and_ciphertext_hides_the_token() -> None:
    cipher = TokenCipher(SecretStr(generate_key()))
    sealed = cipher.encrypt("EAAB-page-token")
    assert b"EAAB" not in sealed
    assert cipher.decrypt(sealed) == "EAAB-page-token"


def test_old_keys_still_decrypt_after_rotation() -> None:
    old, new = generate_key(), generate_key()
    sealed_with_old = TokenCipher(SecretStr(old)).encrypt("token-1")
    rotated = TokenCipher(SecretStr(f"{new},{old}"))
    assert rotated.decrypt(sealed_with_old) == "token-1"
    resealed = rotated.rotate(sealed_with_old)
    assert TokenCipher(SecretStr(new)).decrypt(resealed) == "token-1"


def test_unknown_key_fails_clearly() -> None:
    sealed = TokenCipher(SecretStr(generate_key())).encrypt("t")
    with pytest.raises(TokenDecryptError):
        TokenCipher(SecretStr(generate_key())).decrypt(sealed)


def test_missing_or_malformed_key_does_not_echo_it() -> None:
    with pytest.raises(SecretKeyMissingError):
        TokenCipher(None)
    with pytest.raises(SecretKeyMissingError) as caught:
        TokenCipher(SecretStr("not-a-fernet-key-but-secret"))
    assert "not-a-fernet-key-but-secret" not in str(caught.value)
