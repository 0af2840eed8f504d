"""Pure rules of outbound webhooks: which transition announces what, signing and
verifying, secrets, and which URLs may receive them."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from yarl import URL

from jobcast.destinations import ends_in_a_number, host_problem, parse_ip_literal

LIFECYCLE_WEBHOOKS = {
    "scheduled": "post.scheduled",
    "posted": "post.posted",
    "failed": "post.failed",
    "unconfirmed": "post.unconfirmed",
}


def lifecycle_webhook(status: str, previous_status: str | None, action: str) -> str | None:
    """The webhook a post's transition announces (a publish entering one of four statuses)."""
    if action != "publish" or status == previous_status:
        return None
    return LIFECYCLE_WEBHOOKS.get(status)


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_webhook(
    secret: str, header: str, body: bytes, *, now: float, tolerance_seconds: float = 300
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign_webhook(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def new_webhook_secret() -> str:
    """A signing secret for a tenant (shown once; stored encrypted)."""
    return "whsec_" + secrets.token_urlsafe(32)


def acceptable_webhook_url(
    url: str, *, allow_insecure: bool, allow_loopback: bool = False
) -> str | None:
    """Why `url` cannot receive webhooks, or None: https (http only if `allow_insecure`),
    no credentials, and a host that may be public (the request comes from inside
    jobcast's network). Only what the URL shows is judged here; the addresses a name
    resolves to are checked at every delivery (`jobcast.public_http`). `allow_loopback`
    lets a receiver on this machine through, for development and tests."""
    try:
        parsed = URL(url)  # as the sender (aiohttp) will read it
        host = parsed.raw_host
        parsed.port  # noqa: B018 (read for its check: a port out of range is refused)
    except ValueError:
        return "is not a valid URL"
    if host and parse_ip_literal(host) is None and ends_in_a_number(host):
        return "is not a valid URL"  # numbers, but not an address (1.2.3.999)
    if parsed.scheme not in ("https", "http") or not host:
        return "must be an http(s) URL with a host"
    if parsed.raw_user or parsed.raw_password:
        return "must not carry credentials"
    if parsed.scheme != "https" and not allow_insecure:
        return "must use https"
    problem = host_problem(host, allow_loopback=allow_loopback)
    return None if problem is None else f"must reach a public host ({problem})"
