"""The parsed form of one Graph API call, handed from the HTTP layer to the operations."""

from __future__ import annotations

from dataclasses import dataclass

from .params import Params


@dataclass(slots=True)
class Call:
    """One Graph call: what was asked, by which token, about which account."""

    method: str
    version: str
    path: str  # after the version, e.g. "/123/feed"
    segments: tuple[str, ...]
    params: Params
    token: str | None
    operation: str = ""
    account_id: str | None = None
    target_id: str | None = None
    base_url: str = ""
    container_error_subcode: int | None = None  # set by the container_error fault
