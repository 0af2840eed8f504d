"""Topic names, partition counts and keys: the layout of the event log."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.platforms import Platform


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    key: str  # what the record key is, for the README and for reviewers


JOBS_INCOMING = "jobs.incoming"
JOBS_EVENTS = "jobs.events"
PUBLISH_RESULTS = "publish.results"
CONNECTIONS_EVENTS = "connections.events"
PLATFORM_WEBHOOKS = "platform.webhooks"
OPERATOR_COMMANDS = "operator.commands"
ENGAGEMENT_EVENTS = "engagement.events"


def publish_topic(platform: Platform) -> str:
    """The command topic a platform's publisher consumes."""
    return f"publish.{platform.value}"


def dead_letter_topic(topic: str) -> str:
    """Where records of `topic` that cannot be processed are parked, with the reason."""
    return f"{topic}.dlq"


# Partition counts bound a consumer group's parallelism; keys keep order where it matters:
# a job's events stay ordered, one account's posts stay ordered (and throttle together).
CONSUMED: tuple[TopicSpec, ...] = (
    TopicSpec(JOBS_INCOMING, 6, "job_id (recommended)"),
    TopicSpec(JOBS_EVENTS, 6, "job_id"),
    *(TopicSpec(publish_topic(platform), 6, "connection_id") for platform in Platform),
    TopicSpec(PUBLISH_RESULTS, 6, "post_key"),
    TopicSpec(CONNECTIONS_EVENTS, 3, "connection_id"),
    TopicSpec(OPERATOR_COMMANDS, 3, "tenant_id"),
    TopicSpec(ENGAGEMENT_EVENTS, 6, "post_key"),
    TopicSpec(PLATFORM_WEBHOOKS, 3, "entry id"),  # metrics counts comments from it
)

# Topics nothing in jobcast consumes (none at present).
PRODUCED_ONLY: tuple[TopicSpec, ...] = ()

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CONSUMED
    + PRODUCED_ONLY
    + tuple(TopicSpec(dead_letter_topic(t.name), 1, "original key") for t in CONSUMED)
)
