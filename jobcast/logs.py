"""Structured JSON logging to stderr: one object per line, safe for log shippers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes of a LogRecord that are plumbing, not context worth shipping.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra=` fields as one JSON object."""

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
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's output through the JSON formatter at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka, httpx and uvicorn are chatty at INFO about every connection and request.
    for noisy in ("aiokafka", "httpx", "httpcore", "uvicorn.access", "faststream.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # faststream gives its loggers their own plain-text handlers; route them through ours.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("faststream", "uvicorn")):
            framework_logger = logging.getLogger(name)
            framework_logger.handlers[:] = []
            framework_logger.propagate = True
