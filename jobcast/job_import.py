"""Sending a job file's rows to the ingest API in batches, and what became of each row.

Used by `jobcast jobs import` and by the console's upload: both send through the ingest
API (`POST /v1/job-events` with `{"events": [...]}`), never around it. Each row keeps its
file line, so every outcome names the line it came from.

Sending again is safe: an imported posting's event id is derived from its content
(`jobcast.job_files.job_event`), so a batch retried after a timeout, or a file imported
twice, is answered `duplicate` for rows already accepted. A 429 waits for its Retry-After;
a 413 splits the batch; a 5xx or a broken connection is retried a few times, then the
rows not yet sent are reported `not_sent` (import the file again to send them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jobcast.http_answers import refusal_reason, retry_after_seconds
from jobcast.http_client import Answer, HttpClient, NoAnswerError
from jobcast.job_files import JobRow, job_event

MAX_BATCH_SIZE = 500
"""The ingest API's largest batch (`services.ingest.domain.MAX_BATCH`; a test checks)."""

DEFAULT_BATCH_SIZE = 100
JOB_EVENTS_PATH = "/v1/job-events"
_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds before each retry of a failed batch
_MAX_RATE_LIMIT_WAITS = 200  # 429s in a row before the import gives up

RowStatus = Literal["accepted", "duplicate", "rejected", "not_sent"]


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: `accepted` (new), `duplicate` (sent before), `rejected`
    (invalid, `reason` says why) or `not_sent` (the API could not be reached or refused
    the key; `reason` says why)."""

    line: int
    status: RowStatus
    event_id: str | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("rejected", "not_sent")


class _StopImport(Exception):  # noqa: N818 - a signal inside this module, not an error type
    """The API refuses every request (bad key) or cannot be reached: stop sending."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def import_rows(
    http: HttpClient,
    ingest_url: str,
    api_key: str,
    rows: Sequence[JobRow],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> list[RowOutcome]:
    """Send the valid rows in batches of `batch_size`; one outcome per row, in row order.

    Rows that are already errors are `rejected` without being sent. `progress` is called
    with the number of rows just settled (sent or not). The key is only ever sent, as a
    bearer token; no outcome or exception carries it.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
    sender = _Sender(http, ingest_url.rstrip("/") + JOB_EVENTS_PATH, api_key, sleep)
    outcomes: dict[int, RowOutcome] = {}
    valid: list[JobRow] = []
    for index, row in enumerate(rows):
        if row.payload is None:
            outcomes[index] = RowOutcome(row.line, "rejected", reason=row.error)
        else:
            valid.append(row)
    if progress and len(valid) < len(rows):
        progress(len(rows) - len(valid))
    indexes = [i for i, row in enumerate(rows) if row.payload is not None]
    stopped: str | None = None
    for start in range(0, len(valid), batch_size):
        batch = valid[start : start + batch_size]
        if stopped is None:
            try:
                settled = await sender.send(batch)
            except _StopImport as stop:
                stopped = stop.reason
        if stopped is not None:
            settled = [RowOutcome(r.line, "not_sent", reason=stopped) for r in batch]
        for index, outcome in zip(indexes[start : start + batch_size], settled, strict=True):
            outcomes[index] = outcome
        if progress:
            progress(len(batch))
    return [outcomes[i] for i in range(len(rows))]


class _Sender:
    def __init__(
        self, http: HttpClient, url: str, api_key: str, sleep: Callable[[float], Any]
    ) -> None:
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._sleep = sleep

    async def send(self, batch: list[JobRow]) -> list[RowOutcome]:
        """The batch's outcomes; a batch too large for the API is sent in halves."""
        response = await self._post([job_event(row.payload or {}) for row in batch])
        if response.status == 202:
            return _outcomes(batch, response.json())
        if response.status == 413 and len(batch) > 1:
            half = len(batch) // 2
            return [*await self.send(batch[:half]), *await self.send(batch[half:])]
        if response.status in (401, 403):
            raise _StopImport(f"the ingest API refused the key ({response.status})")
        why = f"the ingest API answered {response.status}: {refusal_reason(response)}"
        return [RowOutcome(row.line, "rejected", reason=why) for row in batch]

    async def _post(self, events: list[dict[str, object]]) -> Answer:
        failures = rate_limited = 0
        while True:
            try:
                response = await self._http.exchange(
                    "POST", self._url, json={"events": events}, headers=self._headers
                )
            except NoAnswerError as exc:
                why = f"the ingest API could not be reached ({exc.kind})"
            else:
                if response.status == 429 and rate_limited < _MAX_RATE_LIMIT_WAITS:
                    rate_limited += 1
                    await self._sleep(retry_after_seconds(response))
                    continue
                if response.status < 500:
                    return response
                why = f"the ingest API answered {response.status}"
            if failures == len(_RETRY_DELAYS):
                raise _StopImport(why)
            await self._sleep(_RETRY_DELAYS[failures])
            failures += 1


def _outcomes(batch: list[JobRow], body: dict[str, Any]) -> list[RowOutcome]:
    outcomes: list[RowOutcome] = []
    for row, result in zip(batch, body["results"], strict=True):
        status = result["status"]
        if status == "rejected":
            reason = "; ".join(
                # The ingest API names fields from the event; the file's from the posting.
                f"{str(error.get('field') or 'event').removeprefix('payload.')}: {error.get('msg')}"
                for error in result.get("errors", [])
            )
            outcomes.append(RowOutcome(row.line, "rejected", reason=reason or "rejected"))
        else:
            outcomes.append(RowOutcome(row.line, status, event_id=result["event_id"]))
    return outcomes
