"""Generate the checked-in JSON Schema files: `python -m schemas.export [--check]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.connections import ConnectionEvent
from schemas.engagement import EngagementCollected
from schemas.jobs import JobEvent
from schemas.operator import OperatorCommandIssued
from schemas.publish import PublishCompleted, PublishRequested
from schemas.webhooks import PlatformWebhookReceived
from schemas.webhooks_out import OutboundWebhook

SCHEMA_DIR = Path(__file__).parent / "json"

# One file per topic's record type: what a producer on that topic must write.
CONTRACT: dict[str, TypeAdapter[Any]] = {
    "jobs.events": TypeAdapter(JobEvent),
    "publish.command": TypeAdapter(PublishRequested),
    "publish.result": TypeAdapter(PublishCompleted),
    "connections.events": TypeAdapter(ConnectionEvent),
    "platform.webhooks": TypeAdapter(PlatformWebhookReceived),
    "operator.commands": TypeAdapter(OperatorCommandIssued),
    "engagement.events": TypeAdapter(EngagementCollected),
    # Not a topic: the body of an outbound webhook request (a contract with tenants).
    "webhooks.outbound": TypeAdapter(OutboundWebhook),
}


def render() -> dict[Path, str]:
    """The schema files as they should be, keyed by path."""
    files: dict[Path, str] = {}
    for name, adapter in CONTRACT.items():
        schema = adapter.json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://jobcast.dev/schemas/{name}.schema.json"
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        files[SCHEMA_DIR / f"{name}.schema.json"] = text
    return files


def stale_files() -> list[Path]:
    """Schema files that are missing or differ from the models."""
    return [
        path
        for path, text in render().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main() -> int:
    """Write the files, or with `--check` only report the stale ones (exit 1)."""
    if "--check" in sys.argv[1:]:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, text in render().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
