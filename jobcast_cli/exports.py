"""`jobcast posts export` and `jobcast analytics export`: the read API's answers as CSV on
standard output (`jobcast.csv_export`), the posts paged through with the API's cursor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import typer

from jobcast.csv_export import analytics_csv, posts_csv
from jobcast.http_answers import refusal_reason, retry_after_seconds
from jobcast.http_client import HttpClient, NoAnswerError
from jobcast_cli.api_access import ApiKeyOption, ReadApiUrlOption, with_api_client
from schemas.platforms import Platform
from schemas.publish import PublishStatus

posts = typer.Typer(help="Posts, as the read API reports them.", no_args_is_help=True)
analytics = typer.Typer(help="Analytics, as the read API reports them.", no_args_is_help=True)

PAGE_SIZE = 500  # the read API's largest page
_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


def _instant(value: str | None) -> str | None:
    """An ISO 8601 instant with its zone, checked here so a typo fails before any request."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-05-01T00:00:00Z")
    return parsed.isoformat()


@posts.command("export")
def posts_export(
    *,
    api_key: ApiKeyOption,
    read_api_url: ReadApiUrlOption,
    status: Annotated[PublishStatus | None, typer.Option(help="Only posts in this status")] = None,
    platform: Annotated[Platform | None, typer.Option(help="Only posts to this platform")] = None,
    since: Annotated[
        str | None,
        typer.Option(callback=_instant, help="First seen at or after (ISO 8601, with zone)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(callback=_instant, help="First seen before (ISO 8601)")
    ] = None,
    page_size: Annotated[
        int, typer.Option(min=1, max=PAGE_SIZE, help="Posts per request to the read API")
    ] = PAGE_SIZE,
) -> None:
    """Write the tenant's posts as CSV to standard output, newest first (`> posts.csv`)."""
    query = {"status": status, "platform": platform, "since": since, "until": until}
    params = {k: str(v) for k, v in query.items() if v is not None}
    read_api = _ReadApi(read_api_url, api_key)

    async def export(http: HttpClient) -> None:
        header = True
        async for page in read_api.pages(http, params, page_size):
            for line in posts_csv(page, header=header):
                typer.echo(line, nl=False)
            header = False

    with_api_client(export)


@analytics.command("export")
def analytics_export(
    *,
    api_key: ApiKeyOption,
    read_api_url: ReadApiUrlOption,
    group_by: Annotated[
        Literal["platform", "day", "job"], typer.Option(help="One row per platform, day or job")
    ] = "platform",
    from_: Annotated[
        str | None,
        typer.Option("--from", callback=_instant, help="Start (default: 30 days before --to)"),
    ] = None,
    to: Annotated[str | None, typer.Option(callback=_instant, help="End (default: now)")] = None,
) -> None:
    """Write the tenant's analytics as CSV to standard output (`> analytics.csv`)."""
    params = {
        "group_by": group_by,
        **({"from": from_} if from_ else {}),
        **({"to": to} if to else {}),
    }
    read_api = _ReadApi(read_api_url, api_key)
    body = with_api_client(lambda http: read_api.get(http, "/v1/analytics", params))
    for line in analytics_csv(body):
        typer.echo(line, nl=False)


class _ReadApi:
    """The read API at `base_url`, asked with `api_key`."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def pages(
        self, http: HttpClient, params: dict[str, str], page_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        cursor: str | None = None
        while True:
            query = {**params, "limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            page = await self.get(http, "/v1/posts", query)
            yield page["posts"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def get(self, http: HttpClient, path: str, params: dict[str, str]) -> dict[str, Any]:
        """The answer's JSON; waits out 429s, retries 5xx and broken connections a few
        times, and exits with the API's reason on any other refusal."""
        failures = 0
        while True:
            try:
                response = await http.exchange(
                    "GET", self._base_url + path, params=params, headers=self._headers
                )
            except NoAnswerError as exc:
                why = f"the read API could not be reached ({exc.kind})"
            else:
                if response.status == 200:
                    body: dict[str, Any] = response.json()
                    return body
                if response.status == 429:
                    await asyncio.sleep(retry_after_seconds(response))
                    continue
                if response.status < 500:
                    why = f"{response.status} {refusal_reason(response)}"
                    typer.echo(f"the read API refused: {why}", err=True)
                    raise typer.Exit(2)
                why = f"the read API answered {response.status}"
            if failures == len(_RETRY_DELAYS):
                typer.echo(f"{why}; the export is incomplete", err=True)
                raise typer.Exit(1)
            await asyncio.sleep(_RETRY_DELAYS[failures])
            failures += 1
