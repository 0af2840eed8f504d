"""The sandbox's in-memory platform: accounts, objects, counters, faults and call log.

Pure (no HTTP) and synchronous: every operation completes without awaiting, so under asyncio a
request's state change is atomic without locks. All lookups are dict-based (O(1)).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devtools.linkedin_sandbox.store import LinkedInStore

from .errors import GraphError
from .faults import FaultBook
from .login_models import LoginStore
from .models import (
    Account,
    AuthCode,
    Comment,
    FbPhoto,
    FbPost,
    FbVideo,
    IgContainer,
    IgMedia,
    IssuedToken,
    Platform,
)
from .settings import SandboxSettings
from .threads_models import ThreadsStore
from .usage import PublishWindow, RollingCounter, minutes_ceil, percent

_FB_ID_BASE = 100_000_000_000_000  # 15 digits, like Page/post ids
_IG_ID_BASE = 17_840_000_000_000_000  # 17 digits, like IG media/container ids
DEFAULT_USER_ID = "100000000000001"
# Per platform: the usage header's account type, and the code past an account's budget
# (Threads documents no business-use-case code: 17, "User request limit reached").
_ACCOUNT_TYPE: dict[Platform, str] = {
    "facebook": "pages",
    "instagram": "instagram",
    "threads": "threads",
}
_BLOCKED_CODE: dict[Platform, int] = {"facebook": 80001, "instagram": 80002, "threads": 17}


@dataclass(slots=True)
class UsageSnapshot:
    """Usage percentages after recording one call, and whether the call is rate limited."""

    app_pct: int
    account_id: str | None
    account_type: str | None  # "pages" | "instagram"
    account_pct: int
    regain_minutes: int
    blocked_code: int | None = None


class SandboxState:
    """Everything that 'exists on the platform', plus the machinery to break it on purpose."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or SandboxSettings()
        self._initial_settings = self.settings.copy()
        self._clock = clock
        self.clock_offset = 0.0
        self._reset_data()

    # -- lifecycle --------------------------------------------------------------------------

    def _reset_data(self) -> None:
        self._ids = itertools.count(1)
        self.accounts: dict[str, Account] = {}
        self.seen_accounts: dict[str, Platform] = {}  # ids used on edges without registration
        self.ig_to_page: dict[str, str] = {}
        self.user_names: dict[str, str] = {}
        self.user_tokens: dict[str, IssuedToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.revoked_tokens: dict[str, int] = {}  # token -> 190 subcode
        self.posts: dict[str, FbPost] = {}
        self.posts_by_page: dict[str, list[FbPost]] = {}
        self.last_message_by_page: dict[str, str] = {}
        self.photos: dict[str, FbPhoto] = {}
        self.videos: dict[str, FbVideo] = {}
        self.containers: dict[str, IgContainer] = {}
        self.media: dict[str, IgMedia] = {}
        self.comments: dict[str, list[Comment]] = {}  # by the commented object's id
        self.media_by_user: dict[str, list[IgMedia]] = {}
        self.publish_windows: dict[str, PublishWindow] = {}
        self.account_usage: dict[str, RollingCounter] = {}
        self.app_usage = RollingCounter()
        self.faults = FaultBook()
        self.ig_login = LoginStore()  # Instagram Login's codes and tokens
        self.threads = ThreadsStore()  # the Threads host's containers and threads
        self.threads_login = LoginStore()  # Threads' OAuth codes and tokens
        self.linkedin = LinkedInStore()  # the fake LinkedIn's data (devtools.linkedin_sandbox)
        self.calls: deque[dict[str, Any]] = deque(maxlen=max(1, self.settings.call_log_size))
        self._call_seq = itertools.count(1)

    def reset(self) -> None:
        """Forget everything and restore the settings the sandbox started with."""
        self.settings = self._initial_settings.copy()
        self.clock_offset = 0.0
        self._reset_data()

    def apply_settings(self, changes: dict[str, Any]) -> None:
        """Change settings at run time (resizes the call log if needed)."""
        self.settings.update(changes)
        if "call_log_size" in changes:
            self.calls = deque(self.calls, maxlen=max(1, self.settings.call_log_size))

    # -- clock & ids ------------------------------------------------------------------------

    def now(self) -> float:
        """Current sandbox time (wall clock plus any offset added by tests)."""
        return self._clock() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move sandbox time forward (expiry, quotas and budgets follow); return the offset."""
        self.clock_offset += seconds
        return self.clock_offset

    def new_fb_id(self) -> str:
        """A fresh numeric Facebook object id."""
        return self._fresh_id(_FB_ID_BASE)

    def new_ig_id(self) -> str:
        """A fresh numeric Instagram object id."""
        return self._fresh_id(_IG_ID_BASE)

    def _fresh_id(self, base: int) -> str:
        # Meta's ids are globally unique; ours must never equal an id a client already
        # uses for an account or user, or that account's edges would resolve to the object.
        while True:
            candidate = str(base + next(self._ids))
            if (
                candidate not in self.accounts
                and candidate not in self.seen_accounts
                and candidate not in self.user_names
                and candidate != DEFAULT_USER_ID
            ):
                return candidate

    # -- accounts & users -------------------------------------------------------------------

    def register_account(self, account: Account) -> Account:
        """Add or replace an account (a Page or an IG professional account)."""
        old = self.accounts.get(account.account_id)
        if old is not None and old.linked_instagram_id:
            self.ig_to_page.pop(old.linked_instagram_id, None)
        self.accounts[account.account_id] = account
        if account.linked_instagram_id:
            self.ig_to_page[account.linked_instagram_id] = account.account_id
        if account.user_id and account.user_id not in self.user_names:
            self.user_names[account.user_id] = f"Sandbox User {account.user_id}"
        return account

    def register_user(
        self, user_id: str, name: str | None, token: str | None, scopes: tuple[str, ...]
    ) -> None:
        """Add a user (for ``me/accounts`` and the OAuth dialog), optionally with a token."""
        self.user_names[user_id] = name or f"Sandbox User {user_id}"
        if token:
            self.user_tokens[token] = IssuedToken(user_id, scopes, self.now(), None)

    def platform_of(self, account_id: str) -> Platform | None:
        """The platform of a registered or previously used account id."""
        account = self.accounts.get(account_id)
        if account is not None:
            return account.platform
        return self.seen_accounts.get(account_id)

    def account_name(self, account_id: str) -> str:
        """Display name of a Page / IG account."""
        account = self.accounts.get(account_id)
        if account is not None and account.name:
            return account.name
        return f"Sandbox {account_id}"

    def owner_user(self, account_id: str) -> str | None:
        """The user who manages a registered account.

        An IG account inherits its linked Page's user; accounts registered without ``user_id``
        belong to the default (consenting) user, so the OAuth flow works without extra setup.
        """
        account = self.accounts.get(account_id)
        if account is None:
            return None
        if account.user_id:
            return account.user_id
        page = self.accounts.get(self.ig_to_page.get(account_id, ""))
        if page is not None and page.user_id:
            return page.user_id
        return self.default_user_id()

    def default_user_id(self) -> str:
        """The consenting user for OAuth and the owner of unknown tokens."""
        if self.settings.consenting_user_id:
            return self.settings.consenting_user_id
        return next(iter(self.user_names), DEFAULT_USER_ID)

    def require_permission(
        self, account_id: str, permission: str, code: int, message: str, *, strict: bool = False
    ) -> None:
        """Raise a permission error unless the account holds ``permission``.

        Accounts registered without a permission list are unrestricted, unless ``strict`` (then
        only an explicit grant passes: used for IG delete, which needs instagram_manage_contents).
        """
        account = self.accounts.get(account_id)
        granted = account.permissions if account is not None else None
        if granted is None and not strict:
            return
        if granted is None or permission not in granted:
            raise GraphError(code, message=message)

    # -- usage & rate limits ----------------------------------------------------------------

    def record_call(self, account_id: str | None, platform: Platform | None) -> UsageSnapshot:
        """Count one call against the app and the account; flag it if over budget.

        Calls made while blocked are counted too, so hammering a blocked account extends the
        block (as Meta warns).
        """
        now = self.now()
        settings = self.settings
        app_total = self.app_usage.add(now)
        snap = UsageSnapshot(percent(app_total, settings.app_hourly_budget), None, None, 0, 0)
        budget = settings.account_hourly_budget
        if account_id is not None and platform is not None:
            counter = self.account_usage.get(account_id)
            if counter is None:
                counter = self.account_usage[account_id] = RollingCounter()
            total = counter.add(now)
            snap.account_id = account_id
            snap.account_type = _ACCOUNT_TYPE[platform]
            snap.account_pct = percent(total, budget)
            if budget > 0 and total > budget:
                wait = counter.seconds_until_at_most(now, budget)
                snap.regain_minutes = max(1, minutes_ceil(wait))
                snap.blocked_code = _BLOCKED_CODE[platform]
                return snap
        app_budget = settings.app_hourly_budget
        if app_budget > 0 and app_total > app_budget:
            wait = self.app_usage.seconds_until_at_most(now, app_budget)
            snap.regain_minutes = max(1, minutes_ceil(wait))
            snap.blocked_code = 4
        return snap

    def log_call(self, entry: dict[str, Any]) -> None:
        """Append to the bounded call log (entries must already be token-free)."""
        entry["seq"] = next(self._call_seq)
        self.calls.append(entry)

    # -- IG quota ---------------------------------------------------------------------------

    def quota_total(self, ig_user_id: str) -> int:
        """Publishes allowed per window for this IG account."""
        account = self.accounts.get(ig_user_id)
        if account is not None and account.quota_total is not None:
            return account.quota_total
        return self.settings.ig_quota_total

    def publish_window(self, ig_user_id: str) -> PublishWindow:
        """The moving publish window of an IG account (created on first use)."""
        window = self.publish_windows.get(ig_user_id)
        if window is None:
            window = PublishWindow(self.settings.ig_quota_duration_s)
            self.publish_windows[ig_user_id] = window
        return window
