"""The console's pages against fake APIs (requests and answers in httpx's models): sign-in
and its cookie, CSRF on every form, the key never shown, another tenant's job is 404, the
OAuth callback is handed to the distributor, an upload is sent to ingest row by row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from jobcast.http_client import Answer
from services.console.app import console_app
from services.console.settings import ConsoleSettings

OPERATOR_KEY = "jc_operator-key-0123456789"
TENANT_KEY = "jc_tenant-key-0123456789"
PK = "pk_" + "0123456789abcdef" * 2
INGEST, READ, DISTRIBUTOR = "http://ingest", "http://read", "http://distributor"
POST = {
    "post_key": PK, "job_id": "job-1", "platform": "facebook", "status": "posted",
    "attempt_count": 1, "permalink": "https://www.facebook.com/1/posts/2", "error": None,
    "next_attempt_at": None, "updated_at": "2026-05-01T07:00:00+00:00",
    "lifecycle": {"first_seen_at": "2026-05-01T06:59:00+00:00"}, "attempts": [],
}  # fmt: skip


class FakeApis:
    """The three APIs, answering as they do (an `HttpClient`'s exchanges); every request is
    kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        timeout_seconds: float | None = None,
    ) -> Answer:
        response = self(httpx.Request(method, url, params=params, json=json, headers=headers))
        return Answer(
            response.status_code, response.reason_phrase, response.headers, response.content
        )

    @staticmethod
    def linkedin(request: httpx.Request, url: str) -> httpx.Response | None:
        """A LinkedIn consent offering two pages, the choice of one, the connections."""
        path = request.url.path
        if url.startswith(f"{DISTRIBUTOR}/v1/connections/linkedin/callback"):
            organizations = [{"organization_id": "101", "name": "Warung Ibu"},
                             {"organization_id": "102", "name": "Warung Laut"}]  # fmt: skip
            choice = {"grant_id": "g-1", "organizations": organizations, "expires_at": "x"}
            return httpx.Response(200, json={"tenant_id": "t", "connections": [], "choice": choice})
        if path == "/v1/connections" and request.headers.get("authorization"):
            return httpx.Response(200, json={"connections": []})
        if path == "/v1/connections/linkedin/choose":
            chosen = json.loads(request.content)
            if chosen != {"grant_id": "g-1", "organization_id": "102"}:
                return httpx.Response(404, json={"detail": "no such choice"})
            connected = {"platform": "linkedin", "account_id": "102", "display_name": "Warung Laut"}
            return httpx.Response(200, json={"tenant_id": "t", "connections": [connected]})
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911
        self.requests.append(request)
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        url = str(request.url)
        if (linkedin := self.linkedin(request, url)) is not None:
            return linkedin
        if url.startswith(f"{DISTRIBUTOR}/v1/connections/") and "/callback?" in url:
            if "state=good" not in url:
                return httpx.Response(400, json={"detail": "invalid OAuth state: expired"})
            platform = request.url.path.split("/")[3]
            connected = {"platform": platform, "account_id": "1", "display_name": "Kopi Pagi"}
            return httpx.Response(200, json={"tenant_id": "t", "connections": [connected]})
        if key not in (OPERATOR_KEY, TENANT_KEY):
            return httpx.Response(401, json={"detail": "invalid or revoked API key"})
        path = request.url.path
        if path == "/v1/connections":
            return httpx.Response(200, json={"connections": []})
        if path.startswith("/v1/connections/") and path.endswith("/start"):
            login = path.split("/")[3]
            return httpx.Response(200, json={"authorize_url": f"https://dialog.example/{login}"})
        if path == "/v1/operator/audit":
            if key != OPERATOR_KEY:
                return httpx.Response(403, json={"detail": "tenant scope"})
            return httpx.Response(200, json={"commands": [], "next_cursor": None})
        if path.startswith("/v1/operator/"):
            return httpx.Response(202, json={"command_id": "c", "action": path.rsplit("/", 1)[1]})
        if path == "/v1/posts":
            return httpx.Response(200, json={"posts": [POST], "next_cursor": None})
        if path.startswith("/v1/jobs/"):
            job_id = path.split("/")[3]
            posts = [POST] if job_id == "job-1" else []
            return httpx.Response(200, json={"job_id": job_id, "posts": posts})
        if path == "/v1/job-events":
            events = json.loads(request.content)["events"]
            return httpx.Response(202, json={"accepted": [], "duplicates": [], "results": [
                {"index": i, "event_id": e["event_id"], "status": "accepted"}
                for i, e in enumerate(events)]})  # fmt: skip
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def apis() -> FakeApis:
    return FakeApis()


def client_for(apis: FakeApis, base_url: str = "http://testserver") -> TestClient:
    settings = ConsoleSettings(
        CONSOLE_INGEST_URL=INGEST, CONSOLE_READ_API_URL=READ,
        CONSOLE_DISTRIBUTOR_URL=DISTRIBUTOR,
    )  # fmt: skip
    app = console_app(settings, apis)  # type: ignore[arg-type]
    return TestClient(app, base_url=base_url, follow_redirects=False)


@pytest.fixture
def client(apis: FakeApis) -> Iterator[TestClient]:
    with client_for(apis) as client:
        yield client


def sign_in(client: TestClient, key: str) -> httpx.Response:
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer: httpx.Response = client.post(
        "/sign-in", data={"api_key": key, "csrf_token": token.group(1)}
    )
    return answer


def csrf_of(client: TestClient, path: str = "/posts") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_sign_in_sets_an_http_only_lax_cookie_and_never_shows_the_key(client: TestClient) -> None:
    answer = sign_in(client, OPERATOR_KEY)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/posts"
    cookie = answer.headers["set-cookie"]
    assert "jobcast_console=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert OPERATOR_KEY not in cookie
    page = client.get("/posts")
    assert page.status_code == 200
    assert "Signed in (operator)" in page.text
    assert OPERATOR_KEY not in page.text
    assert 'href="https://www.facebook.com/1/posts/2"' in page.text


def test_the_cookie_is_secure_over_tls(apis: FakeApis) -> None:
    with client_for(apis, "https://testserver") as client:
        assert "Secure" in sign_in(client, TENANT_KEY).headers["set-cookie"]


def test_a_bad_key_or_a_missing_form_token_signs_nobody_in(client: TestClient) -> None:
    refused = sign_in(client, "jc_wrong")
    assert refused.status_code == 401
    assert "not valid" in refused.text
    assert "jobcast_console=" not in refused.headers.get("set-cookie", "")
    forged = client.post("/sign-in", data={"api_key": OPERATOR_KEY, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert client.get("/posts").status_code == 303  # still signed out


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/posts", "/jobs/job-1", "/connections", "/approvals", "/analytics", "/live"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/sign-in"


def test_every_form_needs_the_sessions_csrf_token(client: TestClient, apis: FakeApis) -> None:
    sign_in(client, OPERATOR_KEY)
    for path in (f"/posts/{PK}/approve", "/jobs/job-1/cancel", "/operations/pause",
                 "/connections/connect", "/sign-out", "/preview", "/import"):  # fmt: skip
        for form in ({}, {"csrf_token": "forged"}):
            assert client.post(path, data=form).status_code == 403, path
    assert not [r for r in apis.requests if r.url.path.startswith("/v1/operator/posts")]

    done = client.post(f"/posts/{PK}/approve", data={"csrf_token": csrf_of(client),
                                                    "back": "/approvals"})  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/approvals"
    command = apis.requests[-1]
    assert command.url.path == f"/v1/operator/posts/{PK}/approve"
    assert command.headers["authorization"] == f"Bearer {OPERATOR_KEY}"
    assert "Approved" in client.get("/posts").text


def test_after_a_form_only_a_local_page_is_followed(client: TestClient) -> None:
    sign_in(client, OPERATOR_KEY)
    for back in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.post(f"/posts/{PK}/retry", data={"csrf_token": csrf_of(client),
                                                        "back": back})  # fmt: skip
        assert answer.headers["location"] == "/", back


def test_a_crafted_post_key_or_job_id_never_reaches_another_api_path(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, OPERATOR_KEY)
    token = csrf_of(client)
    before = len(apis.requests)
    assert client.post("/posts/pk_1/approve", data={"csrf_token": token}).status_code == 422
    assert client.post("/jobs/../cancel", data={"csrf_token": token}).status_code in (404, 405)
    assert client.post("/jobs/%2E%2E/cancel", data={"csrf_token": token}).status_code == 404
    assert client.get("/jobs/..").status_code in (303, 404)
    assert len(apis.requests) == before


def test_a_job_the_read_api_does_not_show_is_not_found(client: TestClient) -> None:
    sign_in(client, TENANT_KEY)
    assert client.get("/jobs/job-1").status_code == 200
    foreign = client.get("/jobs/another-tenants-job")
    assert foreign.status_code == 404
    assert "Not found" in foreign.text


def test_a_tenant_key_is_told_operator_commands_need_an_operator_key(client: TestClient) -> None:
    sign_in(client, TENANT_KEY)
    assert "/operations" not in client.get("/posts").text.split("<main", 1)[0]
    answer = client.post("/operations/pause", data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 303


def test_a_live_refresh_leaves_the_message_for_the_next_page(client: TestClient) -> None:
    sign_in(client, TENANT_KEY)
    client.post("/operations/pause", data={"csrf_token": csrf_of(client)})
    # The page's script re-reads it in the background before the person's browser does.
    background = client.get("/posts", headers={"X-Live-Refresh": "1"})
    assert 'role="status"' not in background.text
    assert 'role="status"' in client.get("/posts").text
    assert 'role="status"' not in client.get("/posts").text  # shown once


def test_the_oauth_callback_goes_to_the_distributor(client: TestClient, apis: FakeApis) -> None:
    as_api = client.get("/v1/connections/facebook/callback?code=c&state=good")
    assert as_api.status_code == 200
    assert as_api.json()["connections"][0]["display_name"] == "Kopi Pagi"
    assert apis.requests[-1].url.query == b"code=c&state=good"
    assert "authorization" not in apis.requests[-1].headers

    sign_in(client, TENANT_KEY)
    html = {"accept": "text/html"}
    back = client.get("/v1/connections/facebook/callback?code=c&state=good", headers=html)
    assert back.status_code == 303
    assert back.headers["location"] == "/connections"
    refused = client.get("/v1/connections/facebook/callback?code=c&state=bad", headers=html)
    assert refused.status_code == 400
    assert "expired" in refused.text


def test_connect_threads_goes_through_threads_login_and_back(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, TENANT_KEY)
    page = client.get("/connections")
    assert 'id="connect-threads"' in page.text
    started = client.post(
        "/connections/connect?login=threads", data={"csrf_token": csrf_of(client)}
    )
    assert started.status_code == 303
    assert started.headers["location"] == "https://dialog.example/threads"
    assert apis.requests[-1].url.path == "/v1/connections/threads/start"
    html = {"accept": "text/html"}
    back = client.get("/v1/connections/threads/callback?code=c&state=good", headers=html)
    assert back.status_code == 303
    assert apis.requests[-1].url.path == "/v1/connections/threads/callback"
    assert "Kopi Pagi (Threads)" in client.get("/connections").text


def test_a_linkedin_member_with_several_pages_chooses_one(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, TENANT_KEY)
    html = {"accept": "text/html"}
    assert 'id="connect-linkedin"' in client.get("/connections").text
    page = client.get("/v1/connections/linkedin/callback?code=c&state=good", headers=html)
    assert page.status_code == 200
    assert "Warung Ibu" in page.text
    assert 'value="102"' in page.text
    assert 'name="grant_id" value="g-1"' in page.text
    token = csrf_of(client, "/connections")
    form = {"csrf_token": token, "grant_id": "g-1", "organization_id": "102"}
    assert (
        client.post("/connections/linkedin/choose", data={**form, "csrf_token": "x"}).status_code
        == 403
    )
    done = client.post("/connections/linkedin/choose", data=form)
    assert done.status_code == 303
    assert apis.requests[-1].headers["authorization"] == f"Bearer {TENANT_KEY}"
    assert "Connected: Warung Laut (LinkedIn)." in client.get("/connections").text
    client.post("/connections/linkedin/choose", data={**form, "organization_id": "999"})
    assert "Nothing was connected: no such choice" in client.get("/connections").text


def test_an_upload_is_sent_row_by_row_and_each_outcome_shown(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, TENANT_KEY)
    csv = (
        "job_id,title,company,location,employment_type,apply_url\n"
        "j-1,Barista,Kopi,Canggu,daily,https://jobs.example.com/1\n"
        "j-2,,Kopi,Canggu,daily,https://jobs.example.com/2\n"
    )
    answer = client.post(
        "/import",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("jobs.csv", csv.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert "1 accepted" in answer.text
    assert "1 with problems" in answer.text
    sent = json.loads(apis.requests[-1].content)["events"]
    assert [e["payload"]["job_id"] for e in sent] == ["j-1"]

    unknown = client.post(
        "/import",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("jobs.txt", b"x", "text/plain")},
    )
    assert unknown.status_code == 422
    assert "Nothing was imported" in unknown.text


def test_pages_carry_security_headers(client: TestClient) -> None:
    answer = client.get("/sign-in")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/console.css").status_code == 200


def test_the_key_is_never_logged(client: TestClient, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    sign_in(client, OPERATOR_KEY)
    client.get("/posts")
    client.get("/jobs/none")
    assert OPERATOR_KEY not in caplog.text
