"""Token health for every connection, on a timer and on demand: refresh, then check.

A token that can be refreshed and nears its end is refreshed first (`token_lifecycle`):
Instagram Login's `ig_refresh_token`, Threads' `th_refresh_token`, a Facebook user token's
`fb_exchange_token`, a LinkedIn token's refresh token (`grant_type=refresh_token`). Then it
is checked: Facebook Login tokens with `debug_token`, Instagram Login and Threads tokens by
reading their account (`/me`) against the expiry and scopes stored at connect or refresh,
LinkedIn tokens by LinkedIn's token introspection.
A token Meta no longer accepts moves its connection to `needs_reconnect` (and the
distributor stops planning posts for it), announced with `connection.expired` too when it
ran out; a token that expires within the warning window is announced once with
`connection.expiring`. A check that cannot be made (Meta unreachable, a key that no
longer decrypts) is recorded and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from jobcast.crypto import TokenCipher, TokenDecryptError
from jobcast.graph.client import GraphError
from jobcast.graph.hosts import LoginKind
from jobcast.graph.login import AppNotConfiguredError, FacebookGraph, TokenInfo
from jobcast.graph.user_login import (
    INSTAGRAM_LOGIN_SCOPES,
    THREADS_LOGIN_SCOPES,
    UserLoginError,
    UserTokenLogin,
)
from jobcast.linkedin.login import LinkedInLogin, LinkedInLoginError
from schemas.connections import (
    ConnectionExpired,
    ConnectionExpiring,
    ConnectionExpiry,
    ConnectionStatus,
)
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, status_event
from services.distributor.models import Connection
from services.distributor.repo import (
    StoredCredential,
    claim_due_verifications,
    credentials_to_verify,
    mark_needs_reconnect,
    note_expiry_warning,
    record_verification,
    store_refreshed_token,
)
from services.distributor.token_lifecycle import Expiry, expiry_state, refresh_due

log = logging.getLogger(__name__)

# What a connection's token must grant for the publisher of its platform to work.
REQUIRED_SCOPES: dict[Platform, tuple[str, ...]] = {
    Platform.FACEBOOK: ("pages_manage_posts", "pages_read_engagement"),
    Platform.INSTAGRAM: ("instagram_basic", "instagram_content_publish"),
    Platform.LINKEDIN: ("w_organization_social", "r_organization_social"),
}
# The same through a login of the platform's own (its own scope names).
LOGIN_SCOPES: dict[LoginKind, tuple[str, ...]] = {
    LoginKind.INSTAGRAM: INSTAGRAM_LOGIN_SCOPES,
    LoginKind.THREADS: THREADS_LOGIN_SCOPES,
}


def required_scopes(platform: Platform, login: LoginKind = LoginKind.FACEBOOK) -> tuple[str, ...]:
    """What a token must grant for the publisher of `platform` to work with it."""
    return LOGIN_SCOPES.get(login) or REQUIRED_SCOPES[platform]


@dataclass(frozen=True, slots=True)
class Health:
    """What one check means for a connection."""

    valid: bool
    expires_at: datetime | None
    missing_scopes: tuple[str, ...]
    expiring: bool  # valid, but expires within the warning window
    problem: str  # '' when all is well
    # What the token grants, and whether it ran out (a kind of invalid): details a reader
    # asks for, left out of comparing two judgements.
    expired: bool = field(default=False, compare=False)
    scopes: tuple[str, ...] = field(default=(), compare=False)


def assess(
    info: TokenInfo,
    platform: Platform,
    *,
    now: datetime,
    warning: timedelta,
    login: LoginKind = LoginKind.FACEBOOK,
) -> Health:
    """Judge a token from Meta's answer (pure)."""
    state = expiry_state(info.expires_at, now=now, warning=warning)
    expired = state is Expiry.EXPIRED
    valid = info.is_valid and not expired
    missing = tuple(s for s in required_scopes(platform, login) if s not in info.scopes)
    expiring = valid and state is Expiry.EXPIRING
    if not valid:
        problem = "token expired" if expired else (info.error or "token is no longer valid")
    elif missing:
        problem = f"missing scopes: {', '.join(missing)}"
    else:
        problem = ""
    return Health(
        valid, info.expires_at, missing, expiring, problem, expired, tuple(sorted(info.scopes))
    )


@dataclass(frozen=True, slots=True)
class Logins:
    """The platforms' ways in, each with its token calls."""

    facebook: FacebookGraph
    instagram: UserTokenLogin
    threads: UserTokenLogin
    linkedin: LinkedInLogin

    def user_login(self, login: LoginKind) -> UserTokenLogin | None:
        """The user-token login a connection was made with (None: Facebook Login)."""
        return {LoginKind.INSTAGRAM: self.instagram, LoginKind.THREADS: self.threads}.get(login)


class CheckUnavailableError(Exception):
    """The check could not be made (Meta unreachable, the app not configured)."""


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """One connection's check, as the `jobcast connections verify` command reports it."""

    connection: Connection
    health: Health | None  # None: the check could not be made
    error: str = ""  # why it could not be made
    marked_needs_reconnect: bool = False
    warned_expiring: bool = False
    refreshed: bool = False
    refresh_error: str = ""  # why a due refresh did not happen ('' when none was due or it did)


@dataclass(frozen=True, slots=True)
class Windows:
    """How near its end a token is announced (`warning`) and refreshed (`refresh_before`)."""

    warning: timedelta
    refresh_before: timedelta = timedelta(days=30)


async def _inspect(logins: Logins, connection: Connection, token: str) -> TokenInfo:
    """What the platform says of a token now; CheckUnavailableError if it cannot be asked."""
    if connection.login is LoginKind.LINKEDIN:
        return await _inspect_linkedin(logins.linkedin, connection, token)
    user_login = logins.user_login(connection.login)
    if user_login is not None:
        # No debug_token on Instagram's or Threads' host: a token that still reads its
        # account is valid; its expiry and scopes are what the last exchange or refresh said.
        try:
            await user_login.profile(token)
        except UserLoginError as exc:
            if exc.code != 190:
                raise CheckUnavailableError(str(exc)) from None
            return TokenInfo(False, connection.token_expires_at, frozenset(), str(exc))
        return TokenInfo(True, connection.token_expires_at, frozenset(connection.token_scopes))
    try:
        return await logins.facebook.debug_token(token)
    except (GraphError, AppNotConfiguredError) as exc:
        raise CheckUnavailableError(str(exc)) from None


async def _inspect_linkedin(login: LinkedInLogin, connection: Connection, token: str) -> TokenInfo:
    """LinkedIn's introspection: active or not, its expiry and scopes."""
    try:
        status = await login.introspect(token)
    except LinkedInLoginError as exc:
        raise CheckUnavailableError(str(exc)) from None
    error = "" if status.active else f"LinkedIn says the token is {status.status}"
    return TokenInfo(
        status.active, status.expires_at or connection.token_expires_at, status.scopes, error
    )


@dataclass(frozen=True, slots=True)
class Renewed:
    """A refreshed token, its expiry, and the refresh token that came with it (LinkedIn)."""

    token: str
    expires_at: datetime | None
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Renewed(expires_at={self.expires_at}, tokens=[redacted])"


async def _refresh(
    logins: Logins, cipher: TokenCipher, credential: StoredCredential, token: str
) -> Renewed:
    """A new token and its expiry (raises UserLoginError, GraphError, LinkedInLoginError
    or AppNotConfiguredError when the platform refuses)."""
    connection = credential.connection
    if connection.login is LoginKind.LINKEDIN:
        if credential.refresh_ciphertext is None:
            raise LinkedInLoginError("token refresh", "the connection holds no refresh token")
        grant = await logins.linkedin.refresh(cipher.decrypt(credential.refresh_ciphertext))
        now = utcnow()
        return Renewed(
            grant.access_token,
            grant.expires_at(now),
            grant.refresh_token,
            grant.refresh_expires_at(now),
        )
    user_login = logins.user_login(connection.login)
    if user_login is not None:
        fresh = await user_login.refresh(token)
        return Renewed(fresh.token, fresh.expires_at(utcnow()))
    renewed = await logins.facebook.long_lived_user_token(token)
    return Renewed(renewed, (await logins.facebook.debug_token(renewed)).expires_at)


async def _refresh_if_due(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    logins: Logins,
    credential: StoredCredential,
    token: str,
    *,
    now: datetime,
    windows: Windows,
) -> tuple[StoredCredential, str, str]:
    """Refresh the token when it is due; returns the credential and token to check, and
    why a due refresh failed ('' otherwise)."""
    connection = credential.connection
    due = refresh_due(
        connection.login,
        issued_at=connection.token_issued_at,
        expires_at=connection.token_expires_at,
        now=now,
        refresh_before=windows.refresh_before,
        refresh_token_until=connection.refresh_token_expires_at,
    )
    if not due:
        return credential, token, ""
    try:
        renewed = await _refresh(logins, cipher, credential, token)
    except (UserLoginError, GraphError, AppNotConfiguredError, LinkedInLoginError) as exc:
        log.warning(
            "token refresh failed",
            extra={"connection_id": str(connection.connection_id), "reason": str(exc)},
        )
        return credential, token, str(exc)
    fresh, expires_at = renewed.token, renewed.expires_at
    old_expiry = connection.token_expires_at
    if old_expiry is not None and expires_at is not None and expires_at <= old_expiry:
        return credential, token, "the platform gave no later expiry"
    if not await store_refreshed_token(
        pool, cipher, connection.connection_id,
        old_ciphertext=credential.token_ciphertext, token=fresh, expires_at=expires_at,
        refresh_token=renewed.refresh_token, refresh_expires_at=renewed.refresh_expires_at,
    ):  # fmt: skip
        return credential, token, "the connection changed while it was refreshed"
    log.info(
        "token refreshed",
        extra={
            "connection_id": str(connection.connection_id),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    refreshed = replace(connection, token_expires_at=expires_at, token_issued_at=now)
    refresh_ciphertext = credential.refresh_ciphertext
    if renewed.refresh_token:
        refreshed = replace(refreshed, refresh_token_expires_at=renewed.refresh_expires_at)
        refresh_ciphertext = cipher.encrypt(renewed.refresh_token)
    return StoredCredential(refreshed, cipher.encrypt(fresh), refresh_ciphertext), fresh, ""


async def check_connection(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    logins: Logins,
    emit: Emit,
    credential: StoredCredential,
    *,
    warning: timedelta | Windows,
    now: datetime | None = None,
) -> VerifyOutcome:
    """Refresh one connection's token if it is due, check it, store what was found, and
    act on it."""
    windows = warning if isinstance(warning, Windows) else Windows(warning)
    now = now or utcnow()
    connection = credential.connection
    refresh_error = ""
    refreshed = False
    try:
        token = cipher.decrypt(credential.token_ciphertext)
        checked, token, refresh_error = await _refresh_if_due(
            pool, cipher, logins, credential, token, now=now, windows=windows
        )
        refreshed = checked is not credential
        connection = checked.connection
        info = await _inspect(logins, connection, token)
    except (TokenDecryptError, CheckUnavailableError) as exc:
        await record_verification(
            pool, connection.connection_id, expires_at=connection.token_expires_at, error=str(exc)
        )
        return VerifyOutcome(
            connection, None, error=str(exc), refreshed=refreshed, refresh_error=refresh_error
        )
    health = assess(
        info, connection.platform, now=now, warning=windows.warning, login=connection.login
    )
    await record_verification(
        pool, connection.connection_id, expires_at=health.expires_at, error=health.problem
    )
    marked = warned = False
    if not health.valid:
        changed = await mark_needs_reconnect(pool, connection.connection_id)
        if changed is not None:
            marked = True
            if health.expired and health.expires_at is not None:
                await emit(
                    ConnectionExpired(
                        tenant_id=connection.tenant_id,
                        payload=_expiry(connection, health.expires_at),
                    )
                )
            await emit(status_event(changed, ConnectionStatus.NEEDS_RECONNECT, health.problem))
            log.warning(
                "connection needs reconnect",
                extra={"connection_id": str(connection.connection_id), "reason": health.problem},
            )
    elif (
        health.expiring
        and health.expires_at is not None
        and await note_expiry_warning(pool, connection.connection_id, health.expires_at)
    ):
        warned = True
        await emit(
            ConnectionExpiring(
                tenant_id=connection.tenant_id, payload=_expiry(connection, health.expires_at)
            )
        )
        log.warning(
            "connection token expires soon",
            extra={
                "connection_id": str(connection.connection_id),
                "expires_at": health.expires_at.isoformat(),
            },
        )
    return VerifyOutcome(
        connection,
        health,
        marked_needs_reconnect=marked,
        warned_expiring=warned,
        refreshed=refreshed,
        refresh_error=refresh_error,
    )


def _expiry(connection: Connection, expires_at: datetime) -> ConnectionExpiry:
    return ConnectionExpiry(
        connection_id=connection.connection_id,
        platform=connection.platform,
        account_id=connection.account_id,
        expires_at=expires_at,
    )


async def verify_once(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    logins: Logins,
    emit: Emit,
    *,
    tenant_id: UUID,
    connection_id: UUID | None = None,
    warning: timedelta | Windows,
) -> list[VerifyOutcome]:
    """Check a tenant's connections now (all, or the one named), whatever their schedule."""
    return [
        await check_connection(pool, cipher, logins, emit, credential, warning=warning)
        for credential in await credentials_to_verify(pool, tenant_id, connection_id)
    ]


class VerificationLoop:
    """Checks every connection once per interval, in the background.

    Connections are claimed in batches (see `claim_due_verifications`), so several
    distributor instances share the checks, and a restart does not check everything again.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        logins: Logins,
        emit: Emit,
        *,
        interval_seconds: float,
        warning_seconds: float,
        refresh_before_seconds: float = 30 * 86400.0,
        batch_size: int = 50,
        concurrency: int = 8,
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._logins = logins
        self._emit = emit
        self._interval = interval_seconds
        self._windows = Windows(
            timedelta(seconds=warning_seconds), timedelta(seconds=refresh_before_seconds)
        )
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_seconds = min(interval_seconds, 60.0)

    async def run(self, stopping: asyncio.Event) -> None:
        """Check due connections until `stopping` is set."""
        if not self._logins.facebook.configured:
            # Instagram Login and Threads tokens are still checked and refreshed (no app
            # needed for it).
            log.warning("Facebook-Login tokens go unchecked: no Facebook app is configured")
        while not stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("token verification pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._poll_seconds)

    async def run_due(self) -> int:
        """Check every connection that is due now; returns how many were checked."""
        checked = 0
        while batch := await claim_due_verifications(
            self._pool, interval_seconds=self._interval, limit=self._batch_size
        ):
            await asyncio.gather(*(self._check(credential) for credential in batch))
            checked += len(batch)
        return checked

    async def _check(self, credential: StoredCredential) -> None:
        async with self._slots:
            connection = credential.connection
            if connection.login is LoginKind.FACEBOOK and not self._logins.facebook.configured:
                return
            if connection.login is LoginKind.LINKEDIN and not self._logins.linkedin.configured:
                return
            await check_connection(
                self._pool, self._cipher, self._logins, self._emit, credential,
                warning=self._windows,
            )  # fmt: skip
