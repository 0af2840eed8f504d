"""The `make up` demo: a tenant with a Facebook Page, an Instagram account, a Threads profile
and a LinkedIn organization page (connected through LinkedIn's OAuth, the sandbox
consenting), three jobs."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.graph.hosts import LoginKind
from jobcast.tenancy import (
    KeyScope,
    add_api_key,
    create_tenant,
    migrate_tenancy,
    tenant_by_name,
)
from schemas.platforms import Platform
from services.distributor.repo import active_connections, add_connection, migrate_distributor

DEMO_TENANT = "demo"
# The LinkedIn organization page the demo connects, and the sandbox member who administers it.
DEMO_LINKEDIN = ("2414183", "Bali Hospitality Jobs (LinkedIn)", "demo-member")
DEMO_ACCOUNTS = (
    (Platform.FACEBOOK, "104538291736482", "Bali Hospitality Jobs (Page)"),
    (Platform.INSTAGRAM, "17841405822304914", "@balihospitalityjobs"),
    (Platform.THREADS, "26040582230491400", "@balihospitalityjobs (Threads)"),
)
# Each account's login: Threads profiles connect with Threads' own.
DEMO_LOGINS = {Platform.THREADS: LoginKind.THREADS}


def demo_jobs(run_id: str) -> list[dict[str, Any]]:
    """Three hospitality jobs; the last has no image, so Instagram skips it (and says why)."""
    base = {
        "employment_type": "daily",
        "location": "Seminyak, Bali",
        "tags": ["BaliJobs", "LowonganKerjaBali"],
    }
    return [
        {
            **base,
            "job_id": f"demo-{run_id}-barista",
            "title": "Barista (daily worker)",
            "company": "Kopi Pagi",
            "description": "Morning shift, 07:00-15:00. Latte art a plus.",
            "pay": {"min_amount": "180000", "currency": "IDR", "period": "day"},
            "apply_url": "https://jobs.example.com/apply/barista",
            "image_url": "https://jobs.example.com/img/barista.jpg",
        },
        {
            **base,
            "job_id": f"demo-{run_id}-waiter",
            "title": "Waiter / Waitress",
            "company": "Sunset Beach Club",
            "description": "Evening shifts, English required.",
            "pay": {
                "min_amount": "200000",
                "max_amount": "250000",
                "currency": "IDR",
                "period": "shift",
            },
            "apply_url": "https://jobs.example.com/apply/waiter",
            "image_url": "https://jobs.example.com/img/waiter.jpg",
        },
        {
            **base,
            "job_id": f"demo-{run_id}-dishwasher",
            "title": "Dishwasher",
            "company": "Warung Laut",
            "apply_url": "https://jobs.example.com/apply/dishwasher",
        },
    ]


async def run_demo(endpoints: Endpoints) -> list[dict[str, Any]]:
    """Create (or reuse) the demo tenant, send the jobs, and wait for their posts."""
    pool = await create_pool(endpoints.database_url, max_size=2)
    try:
        await migrate_tenancy(pool)
        await migrate_distributor(pool)
        tenant = await tenant_by_name(pool, DEMO_TENANT)
        if tenant is None:
            tenant, api_key = await create_tenant(pool, DEMO_TENANT)
        else:
            api_key = await add_api_key(pool, tenant.tenant_id)
        cipher = TokenCipher(SecretStr(endpoints.secret_key))
        for platform, account_id, name in DEMO_ACCOUNTS:
            await add_connection(
                pool,
                cipher,
                tenant_id=tenant.tenant_id,
                platform=platform,
                account_id=account_id,
                token=f"demo-token-{account_id}",
                display_name=name,
                login=DEMO_LOGINS.get(platform, LoginKind.FACEBOOK),
            )
        # Earlier runs (or an operator) may have connected more accounts: each gets the jobs.
        connected = len(await active_connections(pool, tenant.tenant_id))
    finally:
        await pool.close()

    jobs = demo_jobs(str(int(time.time())))
    auth = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(timeout=10.0) as http:
        connected += await connect_linkedin(http, endpoints, auth)
        for job in jobs:
            response = await http.post(
                f"{endpoints.url('ingest')}/v1/job-events",
                json={"event_type": "job.created", "payload": job},
                headers=auth,
            )
            response.raise_for_status()
        async with asyncio.timeout(60.0):
            return await _wait_for_posts(http, endpoints, auth, jobs, len(jobs) * connected)


async def connect_linkedin(
    http: httpx.AsyncClient, endpoints: Endpoints, auth: dict[str, str]
) -> int:
    """Connect the demo's LinkedIn page the way a person would: the distributor's start, the
    (sandbox's) consent dialog, the callback. How many new connections that made (0 when it
    was connected before)."""
    organization, name, member = DEMO_LINKEDIN
    sandbox = f"{endpoints.graph_api_url}/_sandbox/linkedin"
    registered = await http.post(
        f"{sandbox}/organizations",
        json={"organization_id": organization, "name": name, "admins": [member]},
    )
    registered.raise_for_status()
    (await http.patch(f"{sandbox}/oauth", json={"consenting_member": member})).raise_for_status()
    before = await http.get(f"{endpoints.url('distributor')}/v1/connections", headers=auth)
    before.raise_for_status()
    known = {c["account_id"] for c in before.json()["connections"] if c["status"] == "active"}
    start = await http.get(
        f"{endpoints.url('distributor')}/v1/connections/linkedin/start",
        params={"redirect": "false"},
        headers=auth,
    )
    start.raise_for_status()
    dialog = await http.get(start.json()["authorize_url"])
    callback = await http.get(dialog.headers["location"])  # the distributor's, or the console's
    callback.raise_for_status()
    return 0 if organization in known else len(callback.json()["connections"])


async def _wait_for_posts(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    auth: dict[str, str],
    jobs: list[dict[str, Any]],
    expected: int,
) -> list[dict[str, Any]]:
    while True:
        rows: list[dict[str, Any]] = []
        for job in jobs:
            response = await http.get(
                f"{endpoints.url('metrics')}/v1/jobs/{job['job_id']}/posts", headers=auth
            )
            response.raise_for_status()
            rows.extend({"job_id": job["job_id"], **p} for p in response.json()["posts"])
        if len(rows) >= expected:
            return rows
        await asyncio.sleep(0.3)


async def demo_console_key(endpoints: Endpoints, path: Path) -> None:
    """A fresh operator-scope key of the demo tenant, written to `path` (mode 600) for the
    console's demo sign-in: the key is shown by `cat`, never printed by `make up`."""
    pool = await create_pool(endpoints.database_url, max_size=1)
    try:
        await migrate_tenancy(pool)
        tenant = await tenant_by_name(pool, DEMO_TENANT)
        if tenant is None:
            tenant, _ = await create_tenant(pool, DEMO_TENANT)
        api_key = await add_api_key(pool, tenant.tenant_id, KeyScope.OPERATOR)
    finally:
        await pool.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(api_key + "\n")
