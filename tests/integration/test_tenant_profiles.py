"""Tenant profiles in Postgres: defaults, round trip, replace; and the `jobcast profile` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from jobcast.tenancy import create_tenant, migrate_tenancy
from schemas.platforms import Platform
from services.distributor.models import TenantProfile
from services.distributor.repo import migrate_distributor
from services.distributor.repo_profiles import get_profile, put_profile
from tests.harness import Infra

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

JOBCAST = Path(sys.executable).parent / "jobcast"


async def test_profiles_round_trip_and_default(db: asyncpg.Pool) -> None:
    await migrate_distributor(db)
    tenant = uuid.uuid4()
    assert await get_profile(db, tenant) == TenantProfile()

    profile = TenantProfile(
        language="id",
        locale="id_ID",
        hashtags=("#BaliJobs", "#LowonganKerjaBali"),
        footer="Ikuti @balijobs 🇮🇩",
        default_image_url="https://cdn.example.com/default.jpg",
        utm={
            Platform.FACEBOOK: {"utm_source": "fb", "utm_campaign": "bali"},
            Platform.INSTAGRAM: {},
            Platform.THREADS: {"utm_source": "th"},
            Platform.LINKEDIN: {"utm_campaign": "hiring"},
        },
        require_approval=True,
        update_policy="ignore",
        timezone="Asia/Makassar",
    )
    await put_profile(db, tenant, profile)
    assert await get_profile(db, tenant) == profile

    replaced = TenantProfile(footer="new footer")
    await put_profile(db, tenant, replaced)
    assert await get_profile(db, tenant) == replaced
    row = await db.fetchrow(
        "SELECT profile->>'footer' AS footer, updated_at FROM distributor.tenant_profiles"
        " WHERE tenant_id = $1",
        tenant,
    )
    assert row is not None
    assert row["footer"] == "new footer"
    assert row["updated_at"] is not None
    # Another tenant is untouched.
    assert await get_profile(db, uuid.uuid4()) == TenantProfile()


async def test_profile_reads_inside_a_transaction(db: asyncpg.Pool) -> None:
    await migrate_distributor(db)
    tenant = uuid.uuid4()
    async with db.acquire() as conn, conn.transaction():
        await put_profile(conn, tenant, TenantProfile(language="id"))
        assert (await get_profile(conn, tenant)).language == "id"


async def _cli(infra: Infra, cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": infra.database_url}
    process = await asyncio.create_subprocess_exec(
        str(JOBCAST),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_sets_and_shows_a_profile(db: asyncpg.Pool, infra: Infra, tmp_path: Path) -> None:
    await migrate_tenancy(db)
    await migrate_distributor(db)
    name = f"profile-cli-{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(db, name)

    code, out, err = await _cli(
        infra,
        tmp_path,
        "profile",
        "set",
        "--tenant",
        name,
        "--language",
        "id",
        "--locale",
        "id_ID",
        "--hashtag",
        "#BaliJobs",
        "--hashtag",
        "Lowongan Kerja Bali",
        "--footer",
        "Ikuti kami",
        "--default-image",
        "https://cdn.example.com/default.jpg",
        "--require-approval",
        "--update-policy",
        "ignore",
        "--utm",
        "facebook:utm_source=fb",
        "--utm",
        "facebook:utm_campaign=bali",
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["hashtags"] == ["#BaliJobs", "#LowonganKerjaBali"]
    stored = await get_profile(db, tenant.tenant_id)
    assert (stored.language, stored.locale, stored.footer) == ("id", "id_ID", "Ikuti kami")
    assert stored.require_approval
    assert stored.update_policy == "ignore"
    assert stored.attribution(Platform.FACEBOOK) == {"utm_source": "fb", "utm_campaign": "bali"}
    assert stored.attribution(Platform.INSTAGRAM) == {
        "utm_source": "instagram",
        "utm_medium": "social",
    }

    # A later `set` changes only what it names.
    code, _, err = await _cli(
        infra, tmp_path, "profile", "set", "--tenant", name, "--no-require-approval"
    )
    assert code == 0, err
    again = await get_profile(db, tenant.tenant_id)
    assert not again.require_approval
    assert again.footer == "Ikuti kami"

    code, out, err = await _cli(infra, tmp_path, "profile", "show", "--tenant", name)
    assert code == 0, err
    assert json.loads(out)["locale"] == "id_ID"

    # Bad input is refused, naming the field, and nothing is stored.
    code, _, err = await _cli(
        infra, tmp_path, "profile", "set", "--tenant", name, "--locale", "xx_QQ"
    )
    assert code == 2
    assert "locale" in err
    code, _, err = await _cli(
        infra, tmp_path, "profile", "set", "--tenant", name, "--utm", "twitter:utm_source=x"
    )
    assert code == 2
    assert "utm.twitter" in err
    assert await get_profile(db, tenant.tenant_id) == again

    code, _, err = await _cli(infra, tmp_path, "profile", "show", "--tenant", "no-such-tenant")
    assert code == 2
    assert "no tenant named" in err
