"""What the pages show, from what the APIs answer: pure functions, no I/O.

Statuses and errors are put in words a hiring manager can act on; the templates only lay
these out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobcast.job_files import JobRow
from jobcast.job_import import RowOutcome
from schemas.publish import ErrorClass, PublishStatus

Json = dict[str, Any]


STATUS_WORDS: dict[str, str] = {
    PublishStatus.SCHEDULED: "Scheduled: waits for its publish time",
    PublishStatus.AWAITING_APPROVAL: "Waiting for approval",
    PublishStatus.HELD: "Held: posting is paused",
    PublishStatus.CANCELLED: "Cancelled",
    PublishStatus.RETRY_SCHEDULED: "Retrying soon",
    PublishStatus.POSTED: "Posted",
    PublishStatus.FAILED: "Failed",
    PublishStatus.UNCONFIRMED: "Being confirmed (never posted twice)",
    PublishStatus.SKIPPED: "Skipped",
    PublishStatus.EDITED: "Posted (updated)",
    PublishStatus.DELETED: "Deleted",
    PublishStatus.CANNOT_DELETE: "Could not be deleted",
}
# The look of a status: good, waiting, bad or neutral (a CSS class, plus the words above).
STATUS_TONES: dict[str, str] = {
    PublishStatus.POSTED: "good",
    PublishStatus.EDITED: "good",
    PublishStatus.FAILED: "bad",
    PublishStatus.CANNOT_DELETE: "bad",
    PublishStatus.SCHEDULED: "wait",
    PublishStatus.AWAITING_APPROVAL: "wait",
    PublishStatus.HELD: "wait",
    PublishStatus.RETRY_SCHEDULED: "wait",
    PublishStatus.UNCONFIRMED: "wait",
}
ADVICE: dict[str, str] = {
    ErrorClass.TRANSIENT: "Facebook had a temporary problem. jobcast retries by itself; "
    "if it still failed, an operator can retry it later.",
    ErrorClass.RATE_LIMITED: "Facebook is limiting this account for now. Posting resumes "
    "by itself when the limit lifts.",
    ErrorClass.AUTH: "The account's access expired or was withdrawn. Reconnect it on the "
    "Connections page, then ask an operator to retry the post.",
    ErrorClass.PERMANENT: "The platform refused this post as it is. Correct the job "
    "(see the message) and send it again.",
    ErrorClass.ALREADY_POSTED: "It is already on the platform: nothing to do.",
    ErrorClass.NOT_PUBLISHABLE: "This job cannot be posted on this platform as it is "
    "(for example, Instagram needs an image). Correct the job and send it again.",
}
PLATFORM_NAMES = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "threads": "Threads",
    "linkedin": "LinkedIn",
}
STATUS_OPTIONS: list[tuple[str, str]] = [(s.value, STATUS_WORDS[s]) for s in PublishStatus]
PLATFORM_OPTIONS: list[tuple[str, str]] = list(PLATFORM_NAMES.items())


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.capitalize())


def when(value: str | None) -> str:
    """An ISO 8601 instant as `2026-05-01 07:30 UTC` (empty when absent)."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    return instant.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class ErrorView:
    summary: str
    advice: str


def error_view(status: str, error: Json | None) -> ErrorView | None:
    """The error of a post in words, and what to do about it (None: nothing wrong)."""
    if not error:
        return None
    message = error.get("message") or error.get("error_class") or "no message"
    code = error.get("code")
    summary = f"{message} (code {code})" if code is not None else str(message)
    if status == PublishStatus.SKIPPED:
        return ErrorView(summary, "Nothing was posted on this platform for this job.")
    return ErrorView(summary, ADVICE.get(error.get("error_class") or "", ""))


@dataclass(frozen=True)
class PostRow:
    post_key: str
    job_id: str
    platform: str
    status: str
    status_words: str
    tone: str
    attempts: int
    permalink: str | None
    error: ErrorView | None
    next_attempt_at: str
    updated_at: str
    first_seen_at: str
    can_approve: bool
    can_retry: bool
    can_cancel: bool
    first_comment: str = ""  # in words; empty when the post has none


def first_comment_words(comment: Json | None) -> str:
    """A post's first comment as the job page states it."""
    if not comment:
        return ""
    status = str(comment.get("status") or "")
    attempts = int(comment.get("attempts") or 0)
    words = status.replace("_", " ").capitalize()
    if attempts:
        words += f" ({attempts} attempt{'s' if attempts != 1 else ''})"
    error = comment.get("error") or {}
    if status == "failed" and error.get("message"):
        words += f": {error['message']}"
    return words


def post_row(post: Json) -> PostRow:
    status = str(post["status"])
    words = status_words(status)
    if status == PublishStatus.RETRY_SCHEDULED and post.get("next_attempt_at"):
        words = f"Retrying at {when(post['next_attempt_at'])}"
    permalink = post.get("permalink")
    return PostRow(
        post_key=post["post_key"],
        job_id=post["job_id"],
        platform=platform_name(post["platform"]),
        status=status,
        status_words=words,
        tone=STATUS_TONES.get(status, "neutral"),
        attempts=int(post.get("attempt_count") or 0),
        # Only links to the platform: a permalink is shown as a link when it is https.
        permalink=permalink if isinstance(permalink, str) and _is_web(permalink) else None,
        error=error_view(status, post.get("error")),
        next_attempt_at=when(post.get("next_attempt_at")),
        updated_at=when(post.get("updated_at")),
        first_seen_at=when((post.get("lifecycle") or {}).get("first_seen_at")),
        can_approve=status == PublishStatus.AWAITING_APPROVAL,
        can_retry=status == PublishStatus.FAILED,
        can_cancel=status
        in (PublishStatus.SCHEDULED, PublishStatus.AWAITING_APPROVAL, PublishStatus.HELD),
        first_comment=first_comment_words(post.get("first_comment")),
    )


def _is_web(url: str) -> bool:
    return url.startswith(("https://", "http://"))


@dataclass(frozen=True)
class AttemptRow:
    attempt: int
    outcome: str
    at: str
    error: str
    latency_ms: int | None


@dataclass(frozen=True)
class JobPostView:
    post: PostRow
    attempts: list[AttemptRow]


def job_view(answer: Json) -> list[JobPostView]:
    """Each platform's post of a job, with its attempts (oldest first)."""
    views = []
    for post in answer.get("posts", []):
        attempts = [
            AttemptRow(
                attempt=a["attempt"],
                outcome=status_words(a["outcome"]),
                at=when(a.get("occurred_at")),
                error=(a.get("error") or {}).get("message") or "",
                latency_ms=a.get("latency_ms"),
            )
            for a in post.get("attempts", [])
        ]
        views.append(JobPostView(post_row(post), attempts))
    return views


@dataclass(frozen=True)
class PostFilters:
    """The list's filters as the form sends them (dates are days, `YYYY-MM-DD`, UTC)."""

    status: str = ""
    platform: str = ""
    since: str = ""
    until: str = ""
    errors: list[str] = field(default_factory=list)

    def query(self) -> Json:
        """The read API's query for these filters (invalid ones left out, see `errors`)."""
        return {
            "status": self.status or None,
            "platform": self.platform or None,
            "since": f"{self.since}T00:00:00Z" if self.since else None,
            "until": f"{self.until}T23:59:59.999999Z" if self.until else None,
        }

    def link(self, cursor: str | None = None) -> str:
        """The list's own query string with these filters (and a cursor for the next page)."""
        from urllib.parse import urlencode

        pairs = {
            "status": self.status,
            "platform": self.platform,
            "since": self.since,
            "until": self.until,
            "cursor": cursor or "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def post_filters(status: str, platform: str, since: str, until: str) -> PostFilters:
    """Filters from the form; a value that is not one of the choices is dropped, and said."""
    errors = []
    if status and status not in {s.value for s in PublishStatus}:
        errors.append(f"unknown status {status[:40]!r}")
        status = ""
    if platform and platform not in PLATFORM_NAMES:
        errors.append(f"unknown platform {platform[:40]!r}")
        platform = ""
    days = {"since": since, "until": until}
    for name, value in days.items():
        if value and not (_DAY.match(value) and _valid_day(value)):
            errors.append(f"{name}: expected a date like 2026-05-01")
            days[name] = ""
    return PostFilters(status, platform, days["since"], days["until"], errors)


def _valid_day(value: str) -> bool:
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ConnectionRow:
    connection_id: str
    platform: str
    account_id: str
    display_name: str
    status: str
    status_words: str
    healthy: bool
    expires: str
    last_verified: str
    verify_error: str


CONNECTION_WORDS = {
    "active": "Connected",
    "needs_reconnect": "Needs reconnecting: access expired or was withdrawn",
    "disabled": "Disabled: nothing is sent to it",
    "removed": "Disconnected",
}


def connection_row(connection: Json) -> ConnectionRow:
    status = str(connection["status"])
    return ConnectionRow(
        connection_id=str(connection["connection_id"]),
        platform=platform_name(connection["platform"]),
        account_id=connection["account_id"],
        display_name=connection.get("display_name") or connection["account_id"],
        status=status,
        status_words=CONNECTION_WORDS.get(status, status.replace("_", " ").capitalize()),
        healthy=status == "active",
        expires=when(connection.get("token_expires_at")) or "does not expire",
        last_verified=when(connection.get("last_verified_at")) or "not yet",
        verify_error=connection.get("last_verify_error") or "",
    )


def verification_flash(answer: Json) -> tuple[str, str]:
    """What a person is told after "Verify now" (never a token: the answer holds none)."""
    name = (answer.get("connection") or {}).get("display_name") or "the account"
    if not answer.get("checked"):
        return "error", f"Could not verify {name} now: {answer.get('error') or 'no answer'}"
    if not answer.get("valid"):
        return "error", f"{name}: access no longer works ({answer.get('problem')}); reconnect it."
    expires = when(answer.get("expires_at")) or "does not expire"
    refreshed = " Access was renewed." if answer.get("refreshed") else ""
    missing = answer.get("missing_scopes") or []
    lacking = f" Missing permissions: {', '.join(missing)}." if missing else ""
    return "ok", f"{name}: access works (expires: {expires}).{refreshed}{lacking}"


_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


@dataclass(frozen=True)
class PreviewRow:
    platform: str
    account: str
    posts: bool
    skip_reason: str
    caption: str
    hashtags: list[str]
    link: str
    media: list[Json]
    warnings: list[str]


def preview_rows(answer: Json) -> list[PreviewRow]:
    """Each connection's post as it will look: caption, hashtags, media, warnings."""
    rows = []
    for c in answer.get("connections", []):
        content = c.get("content") or {}
        text = content.get("text") or ""
        rows.append(
            PreviewRow(
                platform=platform_name(c["platform"]),
                account=c.get("display_name") or c["account_id"],
                posts=c.get("outcome") == "post",
                skip_reason=c.get("skip_reason") or "",
                caption=text,
                hashtags=[f"#{t}" for t in _HASHTAG.findall(text)],
                link=str(content.get("link") or c.get("apply_url") or ""),
                media=list(content.get("media") or []),
                warnings=[w.get("message", "") for w in c.get("warnings", [])],
            )
        )
    return rows


def parse_job(text: str) -> tuple[Json | None, str]:
    """A pasted job (its JSON, or a whole `job.created` event): the job, or what is wrong."""
    import json

    if not text.strip():
        return None, "Paste a job (JSON) to preview it."
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"That is not JSON: {exc}"
    if isinstance(value, dict) and isinstance(value.get("payload"), dict):
        value = value["payload"]  # a whole event: its job
    if not isinstance(value, dict):
        return None, "Expected one job: a JSON object."
    return value, ""


def connected_names(answer: Json) -> str:
    """`Warung Laut (Facebook), @warunglaut (Instagram)`: what a Facebook Login connected."""
    found = [
        f"{c.get('display_name') or c.get('account_id')} ({platform_name(c.get('platform', ''))})"
        for c in answer.get("connections", [])
    ]
    return ", ".join(found) or "no accounts (the Facebook user manages no Pages)"


@dataclass(frozen=True)
class ImportRow:
    line: int
    job_id: str
    outcome: str
    ok: bool


IMPORT_WORDS = {
    "accepted": "accepted",
    "duplicate": "already imported",
    "rejected": "not sent",
    "not_sent": "not sent (import the file again)",
}


@dataclass(frozen=True)
class ImportView:
    filename: str
    rows: list[ImportRow]

    @property
    def accepted(self) -> int:
        return sum(r.outcome == IMPORT_WORDS["accepted"] for r in self.rows)

    @property
    def duplicates(self) -> int:
        return sum(r.outcome == IMPORT_WORDS["duplicate"] for r in self.rows)

    @property
    def rejected(self) -> int:
        return sum(not r.ok for r in self.rows)


def import_view(
    filename: str, rows: Sequence[JobRow], outcomes: Sequence[RowOutcome]
) -> ImportView:
    """Each row of an uploaded file (in file order) with what became of it."""
    shown = []
    for row, outcome in zip(rows, outcomes, strict=True):
        job_id = str((row.payload or {}).get("job_id", ""))
        words = IMPORT_WORDS[outcome.status]
        if outcome.reason:
            words = f"{words}: {outcome.reason}"
        shown.append(ImportRow(outcome.line, job_id, words, ok=not outcome.failed))
    return ImportView(filename, shown)


@dataclass(frozen=True)
class GroupView:
    key: str
    posts: int
    published: int
    failed: int
    success_rate: str
    p50: str
    p95: str
    interactions: str


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def analytics_group(group: Json) -> GroupView:
    ttp = group.get("time_to_publish") or {}
    interactions = (group.get("engagement") or {}).get("total_interactions")
    return GroupView(
        key=platform_name(group["key"]) if group["key"] in PLATFORM_NAMES else group["key"],
        posts=int(group.get("posts", 0)),
        published=int(group.get("published", 0)),
        failed=int(group.get("failed", 0)),
        success_rate=_percent(group.get("success_rate")),
        p50=_seconds(ttp.get("p50_seconds")),
        p95=_seconds(ttp.get("p95_seconds")),
        interactions="–" if interactions is None else str(interactions),
    )
