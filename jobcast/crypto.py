"""Encryption of platform tokens at rest (Fernet: AES-128-CBC + HMAC-SHA256).

`JOBCAST_SECRET_KEY` holds one or more keys, comma-separated, newest first:
new tokens are encrypted with the first, and every listed key can still decrypt,
so keys rotate without a flag day.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class SecretKeyMissingError(RuntimeError):
    """No key configured, so tokens can be neither stored nor read."""


class TokenDecryptError(RuntimeError):
    """A stored token cannot be decrypted with any configured key."""


class TokenCipher:
    """Encrypts and decrypts tokens; the plaintext lives only in memory."""

    def __init__(self, keys: SecretStr | None) -> None:
        raw = keys.get_secret_value() if keys else ""
        parts = [k.strip() for k in raw.split(",") if k.strip()]
        if not parts:
            raise SecretKeyMissingError("JOBCAST_SECRET_KEY is not set")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except ValueError as exc:
            # Never echo the key material itself.
            raise SecretKeyMissingError("JOBCAST_SECRET_KEY holds a malformed key") from exc

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt with the newest key."""
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        """Decrypt with whichever configured key made it."""
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise TokenDecryptError(
                "stored token cannot be decrypted with the configured keys"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(ciphertext)


def generate_key() -> str:
    """A fresh Fernet key, for set-up scripts and tests."""
    return Fernet.generate_key().decode()
