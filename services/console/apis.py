"""The console's only way in: the read API, ingest and the distributor, over HTTP, with the
signed-in user's key. Answers come back as parsed JSON; a refusal as `ApiError` carrying
the status and the API's own explanation (never the key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from jobcast.http_answers import refusal_reason
from jobcast.http_client import HttpClient, NoAnswerError
from jobcast.job_files import JobRow
from jobcast.job_import import MAX_BATCH_SIZE, RowOutcome, import_rows
from services.console.sessions import Role

Json = dict[str, Any]
# Where Facebook Login sends the browser back (the distributor's path, which the console
# serves too when DISTRIBUTOR_PUBLIC_URL is the console's URL).
CALLBACK_PATH = "/v1/connections/facebook/callback"
INSTAGRAM_CALLBACK_PATH = "/v1/connections/instagram/callback"
THREADS_CALLBACK_PATH = "/v1/connections/threads/callback"
LINKEDIN_CALLBACK_PATH = "/v1/connections/linkedin/callback"


class ApiError(Exception):
    """An API answered with an error status (or could not be reached: status 502)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Endpoints:
    ingest: str
    read_api: str
    distributor: str


class Apis:
    """One shared HTTP client; every call names the key it is made with."""

    def __init__(self, endpoints: Endpoints, http: HttpClient) -> None:
        self._to = endpoints
        self._http = http

    async def _call(
        self,
        method: str,
        url: str,
        api_key: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Json:
        try:
            response = await self._http.exchange(
                method,
                url,
                params={k: str(v) for k, v in (params or {}).items() if v not in (None, "")},
                json=json,
                headers={"Authorization": f"Bearer {api_key}"},
            )
        except NoAnswerError as exc:
            raise ApiError(502, f"the API did not answer ({exc.kind})") from None
        if response.status >= 400:
            raise ApiError(response.status, refusal_reason(response))
        answer: Json = response.json() if response.body else {}
        return answer

    async def role_of(self, api_key: str) -> Role | None:
        """Which kind of key this is (None: unknown or revoked). An operator-scope key may
        read the audit; a tenant-scope key is refused it (403); a bad key is refused (401)."""
        try:
            await self._call("GET", f"{self._to.ingest}/v1/operator/audit", api_key,
                             params={"limit": 1})  # fmt: skip
        except ApiError as exc:
            if exc.status == 403:
                return Role.TENANT
            if exc.status == 401:
                return None
            raise
        return Role.OPERATOR

    # The read API
    async def posts(self, api_key: str, **filters: Any) -> Json:
        return await self._call("GET", f"{self._to.read_api}/v1/posts", api_key, params=filters)

    async def job_posts(self, api_key: str, job_id: str) -> Json:
        url = f"{self._to.read_api}/v1/jobs/{quote(job_id, safe='')}/posts"
        return await self._call("GET", url, api_key)

    async def analytics(self, api_key: str, **query: Any) -> Json:
        url = f"{self._to.read_api}/v1/analytics"
        return await self._call("GET", url, api_key, params=query)

    @asynccontextmanager
    async def stream(self, api_key: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """The read API's SSE stream, opened with the key (the browser never sees it)."""
        opened = self._http.stream(
            f"{self._to.read_api}/v1/stream",
            headers={"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"},
            connect_seconds=10.0,
        )
        try:
            response = await opened.__aenter__()
        except NoAnswerError as exc:
            raise ApiError(502, f"the read API did not answer ({exc.kind})") from None
        try:
            yield response
        finally:
            await opened.__aexit__(None, None, None)

    # The distributor
    async def connections(self, api_key: str) -> Json:
        return await self._call("GET", f"{self._to.distributor}/v1/connections", api_key)

    async def login_url(self, api_key: str, login: str = "facebook") -> str:
        """The consent dialog of Facebook Login, of Instagram Login (`login="instagram"`) or
        of Threads (`login="threads"`) or of LinkedIn (`login="linkedin"`)."""
        url = f"{self._to.distributor}/v1/connections/{login}/start"
        answer = await self._call("GET", url, api_key, params={"redirect": "false"})
        return str(answer["authorize_url"])

    async def login_callback(self, query: str, path: str = CALLBACK_PATH) -> tuple[int, Json]:
        """Hand Facebook's (or Instagram's, at `path`) redirect (code and state, or the
        refusal) to the distributor: the signed state, not a key, says whose it is. Its
        status and answer, as they are."""
        url = f"{self._to.distributor}{path}?{query}"
        try:
            response = await self._http.exchange("GET", url)
        except NoAnswerError as exc:
            raise ApiError(502, f"the API did not answer ({exc.kind})") from None
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:300]}
        return response.status, body if isinstance(body, dict) else {"detail": str(body)}

    async def linkedin_choose(self, api_key: str, grant_id: str, organization_id: str) -> Json:
        """Connect the LinkedIn organization chosen among those a consent offered."""
        return await self._call(
            "POST",
            f"{self._to.distributor}/v1/connections/linkedin/choose",
            api_key,
            json={"grant_id": grant_id, "organization_id": organization_id},
        )

    async def verify(self, api_key: str, connection_id: str) -> Json:
        url = f"{self._to.distributor}/v1/connections/{quote(connection_id, safe='')}/verify"
        return await self._call("GET", url, api_key)

    async def disconnect(self, api_key: str, connection_id: str) -> Json:
        url = f"{self._to.distributor}/v1/connections/{quote(connection_id, safe='')}"
        return await self._call("DELETE", url, api_key)

    async def preview(self, api_key: str, job: Json) -> Json:
        return await self._call("POST", f"{self._to.distributor}/v1/preview", api_key, json=job)

    # Ingest
    async def import_rows(self, api_key: str, rows: Sequence[JobRow]) -> list[RowOutcome]:
        """A job file's rows sent as job events (`jobcast.job_import`, as `jobcast jobs
        import` does): one outcome per row, in row order."""
        return await import_rows(
            self._http, self._to.ingest, api_key, rows, batch_size=MAX_BATCH_SIZE
        )

    async def operator_command(
        self, api_key: str, target: str, action: str, *, reason: str = "", platform: str = ""
    ) -> Json:
        """An audited operator command: `target` is `posts/<key>`, `jobs/<id>` or '' (scope)."""
        path = f"{target}/{action}" if target else action
        body: Json = {"reason": reason}
        if not target and platform:
            body["platform"] = platform
        url = f"{self._to.ingest}/v1/operator/{path}"
        return await self._call("POST", url, api_key, json=body)
