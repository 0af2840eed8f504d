"""Tunable knobs of the sandbox (latency, processing times, quotas, budgets, secrets)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class SandboxSettings:
    """Global settings; every field can be set from the CLI or ``PATCH /_sandbox/settings``."""

    base_latency_ms: int = 0
    """Delay added to every Graph call (the benchmark uses 200 ms)."""
    video_processing_s: float = 2.0
    """How long video containers / FB videos stay IN_PROGRESS / processing."""
    image_processing_s: float = 0.0
    """How long image containers stay IN_PROGRESS (Meta: usually finished at once)."""
    container_ttl_s: float = 86_400.0
    """Unpublished IG containers turn EXPIRED after this long (Meta: 24 h)."""
    ig_quota_total: int = 100
    """Default IG publishes allowed per moving window (per account override on register)."""
    ig_quota_duration_s: int = 86_400
    """Length of the IG publishing window."""
    threads_quota_total: int = 250
    """Threads posts a profile may publish per moving 24 h (per account override on register)."""
    threads_reply_quota_total: int = 1_000
    """Threads replies a profile may publish per moving 24 h."""
    threads_delete_quota_total: int = 100
    """Threads posts a profile may delete per moving 24 h."""
    account_hourly_budget: int = 4_800
    """Calls per rolling hour one Page / IG account may make before 80001 / 80002."""
    app_hourly_budget: int = 2_000_000
    """Calls per rolling hour for the whole app before code 4."""
    app_id: str | None = None
    """When set, OAuth endpoints check ``client_id`` against it."""
    app_secret: str | None = None
    """When set, ``appsecret_proof`` and ``client_secret`` are verified against it."""
    require_appsecret_proof: bool = False
    """Reject calls that carry a token but no ``appsecret_proof`` (needs ``app_secret``)."""
    fault_timeout_s: float = 30.0
    """Default sleep of the ``timeout`` fault action."""
    call_log_size: int = 1_000
    """How many recent calls ``GET /_sandbox/calls`` remembers."""
    duplicate_detection: bool = False
    """Answer 506 when a Page posts the same status message twice in a row (Meta does)."""
    reject_private_media_urls: bool = True
    """Media URLs Meta could not fetch (localhost, private IPs, non-http) fail with 9004."""
    read_after_write: bool = True
    """Creates named `fields` answer with the new object's fields (Meta's read-after-write:
    FB feed posts, IG media_publish). Off: `fields` is ignored, the answer is the id."""
    consenting_user_id: str | None = None
    """The user who 'consents' in the OAuth dialog; defaults to the first registered user."""
    oauth_deny: bool = False
    """Make the OAuth dialog redirect with ``error=access_denied`` instead of a code."""
    user_token_ttl_s: int = 5_184_000
    """Lifetime of user tokens issued by ``/oauth/access_token`` (60 days)."""
    consenting_instagram_id: str | None = None
    """The Instagram account that consents in Instagram Login's dialog; defaults to the
    Instagram account registered last."""
    ig_login_token_ttl_s: int = 5_184_000
    """Lifetime of long-lived Instagram Login tokens (exchanged or refreshed: 60 days)."""
    consenting_threads_id: str | None = None
    """The Threads profile that consents in Threads' dialog; defaults to the Threads
    profile registered last."""
    threads_login_token_ttl_s: int = 5_184_000
    """Lifetime of long-lived Threads tokens (exchanged or refreshed: 60 days)."""

    def copy(self) -> SandboxSettings:
        """Return an independent copy (used to restore start-up settings on reset)."""
        return SandboxSettings(**asdict(self))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names raise ``KeyError``."""
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(key)
            setattr(self, key, value)

    def public_view(self) -> dict[str, Any]:
        """Settings as a dict with the app secret replaced by a presence flag."""
        data = asdict(self)
        data["app_secret"] = "[REDACTED]" if self.app_secret else None
        return data
