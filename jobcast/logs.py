"""Structured JSON logging to stderr: one object per line, safe for log shippers.

Two things hold for every line, whoever logged it (our code, faststream, uvicorn, aiokafka):

- **Correlation.** Fields bound with `log_context` (the record's topic, partition, offset,
  `correlation_id`, `event_id`, `job_id`, `post_key`, ...) are added to every line logged
  inside that context, so one grep on a correlation id follows a job through the services:
  the id travels between them in the `x-correlation-id` Kafka header.
- **Redaction by construction.** The formatter is the only way out, and it redacts before it
  writes: values under secret-looking keys (`token`, `access_token`, `secret`, `password`,
  `authorization`, `api_key`, ...), and secret-looking text anywhere (Meta tokens `EAA...`,
  `Bearer ...`, `access_token=...` in URLs, jobcast API keys `jc_...`, passwords in
  connection URLs), in the message, in extra fields and in tracebacks alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# Attributes of a LogRecord that are plumbing, not context worth shipping.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

REDACTED = "[redacted]"

# A key whose value is a secret, whatever the value looks like: the whole key, or its last
# `_`/`-` separated part ("page_access_token", "x-api-key", "meta_app_secret").
_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[_\-.])?(?:token|access[_\-]?token|secret|secret[_\-]?key|password|passwd|pwd"
    r"|authorization|api[_\-]?key|cookie|set[_\-]?cookie|appsecret[_\-]?proof"
    r"|client[_\-]?secret|credentials?|private[_\-]?key|database[_\-]?url|dsn)$"
)
# Secret-looking text inside any string.
_SECRET_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    # A token, secret or proof in a query string or form body: access_token=EAAB...&...
    (
        re.compile(
            r"(?i)\b((?:[a-z_]*_)?(?:access_token|token|client_secret|appsecret_proof|app_secret"
            r"|password|api_key|fb_exchange_token|input_token))=[^&\s\"',;)\\]+"
        ),
        r"\1=" + REDACTED,
    ),
    # The same names as quoted keys in JSON or a dict's repr: "access_token": "...", also
    # with the quotes escaped, as they are once the line itself is JSON.
    (
        re.compile(
            r"(?i)(\\?[\"'](?:[a-z_]*_)?(?:access_token|token|client_secret|appsecret_proof"
            r"|app_secret|secret|password|api_key|authorization)\\?[\"']\s*:\s*)"
            r"(?P<q>\\?[\"'])[^\"'\\]*(?P=q)"
        ),
        r"\1\g<q>" + REDACTED + r"\g<q>",
    ),
    # An OAuth authorization code in a query string (?code=... or &code=...).
    (re.compile(r"([?&]code)=[^&\s\"',;)\\]+"), r"\1=" + REDACTED),
    # "Authorization: Bearer <credential>" and friends (short words after "basic" are prose).
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b(basic)\s+[A-Za-z0-9+/=]{12,}"), r"\1 " + REDACTED),
    # Meta user/page tokens start with EAA; long-lived ones are ~200 characters.
    (re.compile(r"\bEAA[A-Za-z0-9_\-]{8,}"), REDACTED),
    # jobcast's own API keys (jobcast.tenancy.KEY_PREFIX + token_urlsafe(32)).
    (re.compile(r"\bjc_[A-Za-z0-9_\-]{16,}"), REDACTED),
    # The password in scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/?#@\s]*:)[^@/\s]+@"), r"\1" + REDACTED + "@"),
)

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "jobcast_log_context", default=MappingProxyType({})
)


# Every pattern above needs one of these; a substring test spares most lines (ids,
# statuses, topic names) the full set of substitutions.
_TRIGGERS = ("token", "secret", "password", "api_key", "proof", "code=", "bearer", "basic",
             "authorization", "eaa", "jc_", "://")  # fmt: skip


def redact_text(text: str) -> str:
    """`text` with every secret-looking part replaced by `[redacted]`."""
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.match(key) is not None


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` that is safe to log: secret keys blanked, secret text redacted."""
    return _redact_text_in(_blank_secret_keys(value, key))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _blank_secret_keys(value: Any, key: str | None = None) -> Any:
    if key is not None and value is not None and _is_secret_key(key):
        return REDACTED
    if type(value) in _SCALARS:  # the common case, without the ABC checks below
        return value
    if isinstance(value, Mapping):
        return {str(k): _blank_secret_keys(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_blank_secret_keys(v) for v in value]
    return value


def _redact_text_in(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_text_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_text_in(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))  # anything else is logged as its text, redacted


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (None values are left out).

    Context-local: concurrent tasks each see their own fields, and a task started inside
    the block inherits them.
    """
    bound = {k: v for k, v in fields.items() if v is not None}
    token = _context.set({**_context.get(), **bound})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The fields bound by the enclosing `log_context` blocks."""
    return _context.get()


def event_fields(event: object) -> dict[str, Any]:
    """The ids worth a log field from a contract event: event id and type, tenant, and
    the job id and post key of its payload when it has them."""
    payload = getattr(event, "payload", None)
    fields = {
        "event_id": getattr(event, "event_id", None),
        "event_type": getattr(event, "event_type", None),
        "tenant_id": getattr(event, "tenant_id", None),
        "job_id": getattr(payload, "job_id", None),
        "post_key": getattr(payload, "post_key", None),
    }
    return {k: str(v) for k, v in fields.items() if v is not None}


class JsonFormatter(logging.Formatter):
    """Render a record, its context and its `extra=` fields as one redacted JSON object."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        # Secret keys first (structure), then secret text in the finished line, one pass:
        # cheaper than a pass per value, and no value escapes it.
        return redact_text(json.dumps(_blank_secret_keys(entry), default=str))


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's output through the JSON formatter at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka and uvicorn are chatty at INFO about every connection and request.
    for noisy in ("aiokafka", "uvicorn.access", "faststream.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # faststream gives its loggers their own plain-text handlers; route them through ours.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("faststream", "uvicorn")):
            framework_logger = logging.getLogger(name)
            framework_logger.handlers[:] = []
            framework_logger.propagate = True
