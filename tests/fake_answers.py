"""HTTP answers for fakes of `jobcast.http_client.HttpClient` (what a real exchange returns)."""

from __future__ import annotations

import json as jsonlib
from http import HTTPStatus
from typing import Any

from jobcast.http_client import Answer


def answer(
    status: int, *, json: Any = None, text: str = "", headers: dict[str, str] | None = None
) -> Answer:
    body = jsonlib.dumps(json).encode() if json is not None else text.encode()
    return Answer(status, HTTPStatus(status).phrase, headers or {}, body)
