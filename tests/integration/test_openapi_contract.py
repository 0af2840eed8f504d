"""schemathesis against the live ingest API: generated requests never get a 500, and
every response matches the OpenAPI document the service publishes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_ingest_openapi_holds_under_generated_requests(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    await migrate_tenancy(db)
    tenant, _ = await create_tenant(db, f"st-{uuid.uuid4().hex[:8]}")
    # Operator scope, so the operator endpoints are exercised past their 403.
    api_key = await add_api_key(db, tenant.tenant_id, KeyScope.OPERATOR)
    base = pipeline.url("ingest")
    document = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/job-events" in document["paths"]
    assert "/v1/operator/posts/{post_key}/retry" in document["paths"]
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert executable is not None
    run = subprocess.run(
        [
            executable, "run", f"{base}/openapi.json",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--max-examples", "40",
            "--header", f"Authorization: Bearer {api_key}",
            "--request-timeout", "10",
        ],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert api_key not in output
    issued = await db.fetchval(
        "SELECT count(*) FROM ingest.operator_audit WHERE tenant_id = $1", tenant.tenant_id
    )
    assert issued > 0  # the operator endpoints were reached, not only refused
