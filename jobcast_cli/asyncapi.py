"""docs/asyncapi.json: the topics as an AsyncAPI 3.0 document, generated from the contract.

`python -m jobcast_cli.asyncapi` writes it; `--check` (run by `make lint` and a unit test)
fails when the file and the code disagree. Channels come from `jobcast.topics`, message
payloads from the contract's models (`schemas.export.CONTRACT`), and who sends and receives
each topic from `FLOWS` below — a unit test fails when a topic has no entry there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobcast.topics import (
    ALL_TOPICS,
    CONNECTIONS_EVENTS,
    ENGAGEMENT_EVENTS,
    JOBS_EVENTS,
    JOBS_INCOMING,
    OPERATOR_COMMANDS,
    PLATFORM_WEBHOOKS,
    PUBLISH_RESULTS,
    TopicSpec,
    dead_letter_topic,
    publish_topic,
)
from jobcast_cli.generated import write_or_check
from schemas import headers as h
from schemas.envelope import SCHEMA_VERSION
from schemas.export import CONTRACT
from schemas.platforms import Platform

DOC = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"
_REFS = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Flow:
    """What travels on a topic (a `CONTRACT` name) and who writes and reads it."""

    record: str
    senders: tuple[str, ...]
    receivers: tuple[str, ...]


# Every platform has its publisher service.
_PUBLISHERS = tuple(f"publisher_{p.value}" for p in Platform)
FLOWS: dict[str, Flow] = {
    JOBS_INCOMING: Flow("jobs.events", ("upstream",), ("ingest",)),
    JOBS_EVENTS: Flow("jobs.events", ("ingest",), ("distributor",)),
    **{
        publish_topic(p): Flow("publish.command", ("distributor",), (f"publisher_{p.value}",))
        for p in Platform
    },
    PUBLISH_RESULTS: Flow(
        "publish.result",
        ("distributor", *_PUBLISHERS),
        ("metrics",),
    ),
    CONNECTIONS_EVENTS: Flow(
        "connections.events",
        ("distributor", *_PUBLISHERS),
        ("distributor", "metrics"),
    ),
    OPERATOR_COMMANDS: Flow(
        "operator.commands",
        ("ingest",),
        ("distributor", *_PUBLISHERS),
    ),
    ENGAGEMENT_EVENTS: Flow("engagement.events", ("metrics",), ("metrics",)),
    PLATFORM_WEBHOOKS: Flow("platform.webhooks", ("ingest",), ("metrics",)),
}

_CHAIN_HEADERS = {
    "type": "object",
    "properties": {
        h.CORRELATION_ID: {"type": "string", "description": "the event that started the chain"},
        h.CAUSATION_ID: {"type": "string", "description": "the event this one answers"},
        h.EVENT_TYPE: {"type": "string", "description": "the record's event_type"},
    },
}
_DLQ_HEADERS = {
    "type": "object",
    "description": "The original record's headers, and these:",
    "properties": {
        h.DLQ_REASON: {"type": "string", "description": "why it was parked"},
        h.DLQ_TOPIC: {"type": "string", "description": "the topic it was consumed from"},
        h.DLQ_PARTITION: {"type": "string"},
        h.DLQ_OFFSET: {"type": "string"},
        h.DLQ_GROUP: {"type": "string", "description": "the consumer group that parked it"},
        h.DLQ_TRUNCATED: {"type": "string", "description": "original size, when cut"},
    },
    "required": [h.DLQ_REASON, h.DLQ_TOPIC, h.DLQ_PARTITION, h.DLQ_OFFSET, h.DLQ_GROUP],
}


def render() -> str:
    """The document as the code describes it."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, adapter in CONTRACT.items():
        schema = adapter.json_schema(mode="validation", ref_template=_REFS)
        schemas.update(schema.pop("$defs", {}))
        messages[_message_id(name)] = {
            "name": name,
            "payload": schema,
            "headers": _CHAIN_HEADERS,
        }
    messages["DeadLetter"] = {
        "name": "dead letter",
        "summary": "A record that failed validation or its handler, as it came, with the reason",
        "payload": {"description": "the original record's bytes, unchanged"},
        "headers": _DLQ_HEADERS,
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in ALL_TOPICS:
        flow = FLOWS.get(spec.name)
        if flow is not None:
            message, senders, receivers = _message_id(flow.record), flow.senders, flow.receivers
        else:  # a dead-letter topic: written by the original's readers, read by `jobcast dlq`
            original = FLOWS[spec.name.removesuffix(dead_letter_topic(""))]
            message, senders, receivers = "DeadLetter", original.receivers, ("jobcast-dlq",)
        channels[spec.name] = _channel(spec, message)
        for action, roles in (("send", senders), ("receive", receivers)):
            for role in roles:
                operations[f"{role}.{action}.{spec.name}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{_escape(spec.name)}"},
                    "messages": [{"$ref": f"#/channels/{_escape(spec.name)}/messages/{message}"}],
                }
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "jobcast",
            "version": str(SCHEMA_VERSION),
            "description": (
                "Job events in, one post per connected account out. Generated by "
                "`python -m jobcast_cli.asyncapi`; the payloads are the contract in `schemas/`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "`make up`'s broker; set KAFKA_BOOTSTRAP_SERVERS for yours",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _channel(spec: TopicSpec, message: str) -> dict[str, Any]:
    dead = spec.name.endswith(dead_letter_topic(""))
    return {
        "address": spec.name,
        "description": f"key: {spec.key}",
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "bindingVersion": "0.5.0",
            }
        },
        **({"tags": [{"name": "dead-letter"}]} if dead else {}),
    }


def _message_id(contract_name: str) -> str:
    return "".join(part.capitalize() for part in contract_name.replace(".", " ").split())


def _escape(name: str) -> str:
    # JSON Pointer: "~" and "/" are the only characters to escape; topic names have neither.
    return name.replace("~", "~0").replace("/", "~1")


def main() -> int:
    return write_or_check(DOC, render())


if __name__ == "__main__":
    raise SystemExit(main())
