"""Kafka header names shared by all services (values are UTF-8 strings)."""

CORRELATION_ID = "x-correlation-id"
"""The id of the event that started a chain (the upstream job event)."""
CAUSATION_ID = "x-causation-id"
"""The id of the event this record was produced in response to."""
EVENT_TYPE = "x-event-type"

DLQ_REASON = "x-dlq-reason"
DLQ_TOPIC = "x-dlq-topic"
DLQ_PARTITION = "x-dlq-partition"
DLQ_OFFSET = "x-dlq-offset"
DLQ_GROUP = "x-dlq-group"
