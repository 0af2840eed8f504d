"""LinkedIn's 3-legged OAuth for organization pages: the code exchange, the refresh, token
introspection (www.linkedin.com/oauth/v2, through `jobcast.http_client`), and the
organizations a member administers (api.linkedin.com, through `LinkedInClient`).

An access token lives 60 days; with programmatic refresh tokens (Marketing Developer
Platform apps) the exchange also gives a refresh token that lives 365 days from the
member's consent, is not extended by refreshing, and then needs the member to consent
again. As in `jobcast.graph.login`, no secret ever reaches an exception: LinkedIn's
messages are scrubbed of them, transport errors keep only their type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from jobcast.http_client import HttpClient, NoAnswerError
from jobcast.linkedin.client import LinkedInClient, rest_path
from jobcast.linkedin.errors import LinkedInError
from jobcast.platform_api import AmbiguousOutcomeError

# Posting as an organization, reading its posts (and their statistics), and listing the
# organizations a member administers.
LINKEDIN_SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")
ORGANIZATION_URN = "urn:li:organization:"
# OAuth errors that mean the grant itself is gone (expired, revoked): consent again.
DEAD_GRANT_ERRORS = frozenset({"invalid_grant"})


class LinkedInLoginError(Exception):
    """LinkedIn refused an OAuth call, or did not answer. The message carries no secret.

    `error` is OAuth's error code when there was one (`invalid_grant`: the refresh token
    expired or was revoked).
    """

    def __init__(self, operation: str, message: str, *, error: str | None = None) -> None:
        super().__init__(f"{operation} failed: {message}")
        self.error = error

    @property
    def grant_is_dead(self) -> bool:
        """Whether only the member's consent again can help."""
        return self.error in DEAD_GRANT_ERRORS


class LoginNotConfiguredError(LinkedInLoginError):
    """LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET are not set."""

    def __init__(self) -> None:
        super().__init__("LinkedIn", "LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET must be set")


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a code exchange or a refresh gives."""

    access_token: str
    expires_in: int
    refresh_token: str | None
    refresh_token_expires_in: int | None
    scopes: frozenset[str]

    def __repr__(self) -> str:  # keeps the tokens out of tracebacks and debug output
        return f"TokenGrant(expires_in={self.expires_in}, tokens=[redacted])"

    def expires_at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.expires_in)

    def refresh_expires_at(self, now: datetime) -> datetime | None:
        if self.refresh_token_expires_in is None:
            return None
        return now + timedelta(seconds=self.refresh_token_expires_in)


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What introspection says of an access token."""

    active: bool
    status: str  # active, expired or revoked (LinkedIn's words)
    expires_at: datetime | None
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization (Company Page) the member administers."""

    organization_id: str  # the numeric id: a LinkedIn connection's account id
    name: str


def organization_id_of(urn: str) -> str | None:
    """`urn:li:organization:123` -> "123" (None for any other URN)."""
    if not urn.startswith(ORGANIZATION_URN):
        return None
    rest = urn[len(ORGANIZATION_URN) :]
    return rest if rest.isdigit() else None


def authorize_url(
    oauth_url: str, *, client_id: str, redirect_uri: str, state: str, scopes: Sequence[str]
) -> str:
    """The member's consent dialog for one attempt (scopes space-separated, as LinkedIn
    wants them)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
        }
    )
    base = oauth_url.rstrip("/") + "/authorization"
    return f"{base}{'&' if '?' in base else '?'}{query}"


class LinkedInLogin:
    """The calls the connections flow and the token checks make for LinkedIn."""

    def __init__(
        self,
        http: HttpClient,
        api: LinkedInClient,
        *,
        oauth_url: str,
        client_id: str | None,
        client_secret: SecretStr | None,
    ) -> None:
        self._http = http
        self._api = api
        self._oauth = oauth_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret

    @property
    def configured(self) -> bool:
        """Whether the app's client id and secret are set."""
        return bool(self._client_id) and self._client_secret is not None

    def _client(self) -> tuple[str, str]:
        if not self._client_id or self._client_secret is None:
            raise LoginNotConfiguredError()
        return self._client_id, self._client_secret.get_secret_value()

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        """The access (and refresh) token an authorization code stands for."""
        client_id, secret = self._client()
        body = await self._post(
            "accessToken",
            "code exchange",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "client_secret": secret,
            },
            secrets=(code, secret),
        )
        return _grant_of(body, "code exchange")

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """A new 60-day access token for a live refresh token."""
        client_id, secret = self._client()
        body = await self._post(
            "accessToken",
            "token refresh",
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
                "client_secret": secret,
            },
            secrets=(refresh_token, secret),
        )
        return _grant_of(body, "token refresh")

    async def introspect(self, token: str) -> TokenStatus:
        """Whether LinkedIn still takes `token`, until when and with which scopes."""
        client_id, secret = self._client()
        body = await self._post(
            "introspectToken",
            "token introspection",
            {"client_id": client_id, "client_secret": secret, "token": token},
            secrets=(token, secret),
        )
        expires = body.get("expires_at")
        return TokenStatus(
            active=body.get("active") is True,
            status=str(body.get("status") or ("active" if body.get("active") else "inactive")),
            expires_at=(datetime.fromtimestamp(expires, UTC) if isinstance(expires, int) else None),
            scopes=_scopes(body.get("scope")),
        )

    async def organizations(self, token: str) -> list[Organization]:
        """The organizations the token's member administers (approved ADMINISTRATOR roles),
        each with its name where LinkedIn tells it."""
        try:
            answer = await self._api.call(
                "GET",
                rest_path("organizationAcls"),
                token,
                params=(("q", "roleAssignee"), ("role", "ADMINISTRATOR"), ("state", "APPROVED")),
            )
        except (LinkedInError, AmbiguousOutcomeError) as exc:
            raise LinkedInLoginError("listing the member's organizations", str(exc)) from None
        elements = (answer.body or {}).get("elements")
        found: list[Organization] = []
        for element in elements if isinstance(elements, list) else []:
            urn = element.get("organization") if isinstance(element, dict) else None
            organization_id = organization_id_of(urn) if isinstance(urn, str) else None
            if organization_id and organization_id not in {o.organization_id for o in found}:
                found.append(
                    Organization(organization_id, await self._name(token, organization_id))
                )
        return found

    async def _name(self, token: str, organization_id: str) -> str:
        """An organization's name; '' when LinkedIn does not tell it (the id still works)."""
        try:
            answer = await self._api.call("GET", rest_path("organizations", organization_id), token)
        except (LinkedInError, AmbiguousOutcomeError):
            return ""
        name = (answer.body or {}).get("localizedName")
        return name if isinstance(name, str) else ""

    async def _post(
        self, endpoint: str, operation: str, form: Mapping[str, str], *, secrets: Iterable[str]
    ) -> dict[str, Any]:
        try:
            answer = await self._http.exchange(
                "POST",
                f"{self._oauth}/{endpoint}",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                data=urlencode(form).encode(),
            )
        except NoAnswerError as exc:
            raise LinkedInLoginError(operation, f"LinkedIn unreachable ({exc.kind})") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise LinkedInLoginError(operation, f"HTTP {answer.status} without a JSON body")
        if answer.status >= 400 or "error" in body:
            error = body.get("error")
            message = str(body.get("error_description") or error or f"HTTP {answer.status}")
            raise LinkedInLoginError(
                operation,
                f"{error or answer.status}: {_scrub(message, secrets)}",
                error=error if isinstance(error, str) else None,
            )
        return body


def _grant_of(body: dict[str, Any], operation: str) -> TokenGrant:
    token, expires_in = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise LinkedInLoginError(operation, "answer without access_token or expires_in")
    refresh, refresh_in = body.get("refresh_token"), body.get("refresh_token_expires_in")
    return TokenGrant(
        token,
        expires_in,
        refresh if isinstance(refresh, str) and refresh else None,
        refresh_in if isinstance(refresh_in, int) else None,
        _scopes(body.get("scope")),
    )


def _scopes(value: object) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(s.strip() for s in value.replace(" ", ",").split(",") if s.strip())


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:500]
