"""Whose token may act for which organization on the fake LinkedIn."""

from __future__ import annotations

from .errors import access_denied, expired_token, invalid_token
from .models import organization_urn
from .store import LinkedInStore


def authorize(store: LinkedInStore, token: str, organization_id: str | None, now: float) -> None:
    """Raise LinkedIn's 401/403 unless ``token`` may act for the organization.

    A member token known to the sandbox (issued by OAuth or registered) must be live and,
    for an organization registered with admins, belong to one of them. Otherwise an
    organization registered with a token takes only that token, and an unregistered one
    takes any token (as the Graph sandbox does for unregistered accounts).
    """
    member = store.member_tokens.get(token)
    organization = store.organizations.get(organization_id) if organization_id else None
    if member is not None:
        if member.revoked:
            raise invalid_token()
        if member.expires_at is not None and now >= member.expires_at:
            raise expired_token()
        if (
            organization is not None
            and organization.admins
            and (member.member_id not in organization.admins)
        ):
            raise access_denied(organization_urn(organization.organization_id))
        return
    if organization is None or token == organization.token:
        return
    if organization.token is not None or organization.admins:
        raise invalid_token()
