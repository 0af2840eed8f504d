"""Operator commands at the front door: scope, validation, what is issued, the audit cursor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from jobcast.auth import OPERATOR_SCOPE_REQUIRED, operator_only
from jobcast.tenancy import Caller, KeyScope, Tenant
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued
from schemas.platforms import Platform
from services.ingest.operator import (
    AuditEntry,
    AuditPage,
    AuditPosition,
    decode_cursor,
    encode_cursor,
    target_of,
)
from services.ingest.operator_routes import operator_router

TENANT = Tenant(uuid.uuid4(), "acme")
KEYS = {
    "op-key": Caller(TENANT, KeyScope.OPERATOR, "jc_opAAA"),
    "tenant-key": Caller(TENANT, KeyScope.TENANT, "jc_tnBBB"),
}
POST_KEY = "pk_" + "ab" * 16


async def caller_of(request: Request) -> Caller:
    """Stands in for `caller_from_bearer` (which needs Postgres)."""
    caller = KEYS.get(request.headers.get("authorization", "").removeprefix("Bearer "))
    if caller is None:
        raise HTTPException(401, "invalid or revoked API key")
    return caller


@dataclass
class FakeDesk:
    issued: list[tuple[UUID, OperatorCommand]] = field(default_factory=list)
    asked: list[tuple[UUID, int, AuditPosition | None]] = field(default_factory=list)

    async def issue(self, tenant_id: UUID, command: OperatorCommand) -> OperatorCommandIssued:
        self.issued.append((tenant_id, command))
        return OperatorCommandIssued(tenant_id=tenant_id, payload=command)

    async def audit(
        self, tenant_id: UUID, limit: int, after: AuditPosition | None = None
    ) -> AuditPage:
        self.asked.append((tenant_id, limit, after))
        entry = AuditEntry(
            command_id=uuid.uuid4(), actor="api-key:jc_opAAA", action=OperatorAction.PAUSE,
            target="tenant", reason="", issued_at=datetime.now(UTC), published_at=None,
        )  # fmt: skip
        return AuditPage(entries=[entry], next_cursor="abc")


@pytest.fixture
def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
async def http(desk: FakeDesk) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(operator_router(operator_only(caller_of), desk))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        yield client


OP = {"Authorization": "Bearer op-key"}
TENANT_ONLY = {"Authorization": "Bearer tenant-key"}

ENDPOINTS = [
    *(f"/v1/operator/posts/{POST_KEY}/{a}" for a in ("retry", "cancel", "approve", "reject")),
    *(f"/v1/operator/jobs/job-42/{a}" for a in ("cancel", "approve", "reject")),
    "/v1/operator/pause",
    "/v1/operator/resume",
]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_tenant_scope_keys_are_refused_and_nothing_is_issued(
    http: httpx.AsyncClient, desk: FakeDesk, path: str
) -> None:
    refused = await http.post(path, headers=TENANT_ONLY)
    assert refused.status_code == 403
    assert refused.json()["detail"] == OPERATOR_SCOPE_REQUIRED
    assert "--scope operator" in refused.json()["detail"]
    assert (await http.post(path)).status_code == 401
    assert desk.issued == []


async def test_audit_needs_operator_scope(http: httpx.AsyncClient, desk: FakeDesk) -> None:
    assert (await http.get("/v1/operator/audit", headers=TENANT_ONLY)).status_code == 403
    assert desk.asked == []


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_operator_key_issues_the_command_as_its_actor(
    http: httpx.AsyncClient, desk: FakeDesk, path: str
) -> None:
    response = await http.post(path, headers=OP)
    assert response.status_code == 202, response.text
    [(tenant_id, command)] = desk.issued
    assert tenant_id == TENANT.tenant_id
    assert command.actor == "api-key:jc_opAAA"
    assert command.action.value == path.rsplit("/", 1)[1]
    assert response.json()["action"] == command.action.value
    uuid.UUID(response.json()["command_id"])


async def test_targets_and_reasons_reach_the_command(
    http: httpx.AsyncClient, desk: FakeDesk
) -> None:
    await http.post(
        f"/v1/operator/posts/{POST_KEY}/retry", json={"reason": "  token fixed "}, headers=OP
    )
    await http.post("/v1/operator/jobs/job-42/cancel", json={}, headers=OP)
    await http.post("/v1/operator/pause", json={"platform": "instagram"}, headers=OP)
    await http.post("/v1/operator/resume", headers=OP)
    retry, cancel, pause, resume = (c for _, c in desk.issued)
    assert (retry.post_key, retry.job_id, retry.reason) == (POST_KEY, None, "token fixed")
    assert (cancel.post_key, cancel.job_id) == (None, "job-42")
    assert pause.platform is Platform.INSTAGRAM
    assert resume.platform is None
    assert [target_of(c) for _, c in desk.issued] == [
        f"post:{POST_KEY}", "job:job-42", "platform:instagram", "tenant",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/operator/posts/pk_not-a-key/retry", None, "post_key"),
        (f"/v1/operator/posts/{POST_KEY}/retry", {"reason": "x" * 501}, "reason"),
        (f"/v1/operator/posts/{POST_KEY}/cancel", {"why": "typo"}, "why"),
        ("/v1/operator/jobs/bad job id/approve", None, "job_id"),
        ("/v1/operator/pause", {"platform": "myspace"}, "platform"),
        ("/v1/operator/resume", {"reason": 7}, "reason"),
    ],
)
async def test_invalid_requests_name_the_field(
    http: httpx.AsyncClient, desk: FakeDesk, path: str, body: Any, field: str
) -> None:
    response = await http.post(path, json=body, headers=OP)
    assert response.status_code == 422, response.text
    fields = {str(e["loc"][-1]) for e in response.json()["detail"]}
    assert field in fields
    assert desk.issued == []


async def test_retry_has_no_job_form(http: httpx.AsyncClient) -> None:
    # Retrying is per post: a job's posts may be in any state.
    response = await http.post("/v1/operator/jobs/job-42/retry", headers=OP)
    assert response.status_code in (404, 405)


async def test_audit_pages_with_the_cursor(http: httpx.AsyncClient, desk: FakeDesk) -> None:
    first = await http.get("/v1/operator/audit", params={"limit": 5}, headers=OP)
    assert first.status_code == 200
    assert first.json()["next_cursor"] == "abc"
    assert first.json()["entries"][0]["actor"] == "api-key:jc_opAAA"
    position = (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
    cursor = encode_cursor(*position)
    second = await http.get("/v1/operator/audit", params={"cursor": cursor}, headers=OP)
    assert second.status_code == 200
    assert desk.asked == [(TENANT.tenant_id, 5, None), (TENANT.tenant_id, 50, position)]
    bad = await http.get("/v1/operator/audit", params={"cursor": "not-ours"}, headers=OP)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    too_many = await http.get("/v1/operator/audit", params={"limit": 1000}, headers=OP)
    assert too_many.status_code == 422


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=8)])
def test_cursor_round_trips_exactly(offset: timedelta) -> None:
    from datetime import timezone

    when = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=timezone(offset))
    command_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(when, command_id)) == (when, command_id)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMXx4", "é"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)


def test_actor_names_the_key_by_prefix_only() -> None:
    caller = Caller(TENANT, KeyScope.OPERATOR, "jc_12345")
    assert caller.actor == "api-key:jc_12345"


def test_a_reason_with_a_nul_character_is_refused() -> None:
    # Postgres text cannot store NUL; the audit write must never be where this is found.
    from pydantic import ValidationError

    from schemas.operator import OperatorCommand

    with pytest.raises(ValidationError, match="reason"):
        OperatorCommand.model_validate({"action": "pause", "actor": "ops", "reason": "a\x00b"})
    assert OperatorCommand.model_validate({"action": "pause", "actor": "ops", "reason": "ok"})
