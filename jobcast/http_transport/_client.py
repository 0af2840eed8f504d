"""An httpx client for token-authenticated APIs: it keeps no cookies."""

from __future__ import annotations

from typing import Any

import httpx


class _IgnoredCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """Set-Cookie is ignored: nothing is stored, so nothing is ever sent back."""


class CookielessAsyncClient(httpx.AsyncClient):
    """`httpx.AsyncClient` that never stores a response's cookies.

    Every response otherwise goes through http.cookiejar (a urllib Request built from the
    URL, the headers copied into an email Message): about a third of the client's CPU on
    a small JSON call. And calls made with different accounts' tokens must not share
    cookies anyway.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ignored_cookies = _IgnoredCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: see the class docstring."""
        return self._ignored_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("CookielessAsyncClient keeps no cookies")
