"""Rate-limit headers climbing with use, and the 80001 / 80002 / 4 blocks at 100%."""

from __future__ import annotations

import json
from typing import Any

import httpx

from devtools.graph_sandbox import SandboxSettings

from .helpers import IG, IMAGE, PAGE, FakeClock, error_of, get, post


def buc(response: httpx.Response, account_id: str) -> dict[str, Any]:
    """The account's X-Business-Use-Case-Usage entry."""
    usage: dict[str, Any] = json.loads(response.headers["x-business-use-case-usage"])[account_id][0]
    return usage


async def test_every_graph_response_has_app_usage(client: httpx.AsyncClient) -> None:
    ok = await post(client, f"/{PAGE}/feed", message="x")
    failed = await get(client, "/nope")
    for response in (ok, failed):
        usage = json.loads(response.headers["x-app-usage"])
        assert set(usage) == {"call_count", "total_time", "total_cputime"}
    assert buc(ok, PAGE)["type"] == "pages"


async def test_page_usage_climbs_then_80001(
    client: httpx.AsyncClient, settings: SandboxSettings, clock: FakeClock
) -> None:
    settings.account_hourly_budget = 10
    seen = []
    for n in range(10):
        response = await post(client, f"/{PAGE}/feed", message=f"m{n}")
        assert response.status_code == 200
        seen.append(buc(response, PAGE)["call_count"])
    assert seen == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

    blocked = await post(client, f"/{PAGE}/feed", message="over")
    error = error_of(blocked)
    assert error["code"] == 80001
    assert error["is_transient"] is True
    usage = buc(blocked, PAGE)
    assert usage["call_count"] >= 100
    assert usage["estimated_time_to_regain_access"] > 0

    # Other accounts are unaffected.
    assert (await post(client, "/2002/feed", message="other")).status_code == 200

    clock.advance(3600 + 60)
    recovered = await post(client, f"/{PAGE}/feed", message="back")
    assert recovered.status_code == 200
    assert buc(recovered, PAGE)["call_count"] == 10


async def test_calls_during_block_extend_it(
    client: httpx.AsyncClient, settings: SandboxSettings, clock: FakeClock
) -> None:
    settings.account_hourly_budget = 3
    for _ in range(3):
        await post(client, f"/{PAGE}/feed", message="m")
    clock.advance(30 * 60)
    first = await post(client, f"/{PAGE}/feed", message="m")
    regain_first = buc(first, PAGE)["estimated_time_to_regain_access"]
    for _ in range(5):
        await post(client, f"/{PAGE}/feed", message="m")
    later = await post(client, f"/{PAGE}/feed", message="m")
    assert error_of(later)["code"] == 80001
    assert buc(later, PAGE)["estimated_time_to_regain_access"] > regain_first


async def test_instagram_usage_and_80002(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.account_hourly_budget = 4
    for _ in range(4):
        response = await post(client, f"/{IG}/media", image_url=IMAGE)
        assert response.status_code == 200
    assert buc(response, IG) == {
        "type": "instagram",
        "call_count": 100,
        "total_cputime": 100,
        "total_time": 100,
        "estimated_time_to_regain_access": 0,
    }
    blocked = await get(client, f"/{IG}/content_publishing_limit")
    assert error_of(blocked)["code"] == 80002


async def test_app_budget_gives_code_4(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.app_hourly_budget = 2
    settings.account_hourly_budget = 0
    assert (await post(client, f"/{PAGE}/feed", message="a")).status_code == 200
    second = await post(client, f"/{PAGE}/feed", message="b")
    assert json.loads(second.headers["x-app-usage"])["call_count"] == 100
    blocked = await post(client, f"/{PAGE}/feed", message="c")
    assert blocked.status_code == 403
    assert error_of(blocked)["code"] == 4
