"""Prometheus metrics shared by every service (names follow Prometheus conventions)."""

from prometheus_client import Counter, Histogram

RECORDS_CONSUMED = Counter(
    "jobcast_records_consumed_total", "Records consumed, by topic and outcome", ["topic", "outcome"]
)
RECORDS_PRODUCED = Counter(
    "jobcast_records_produced_total", "Records produced, by topic", ["topic"]
)
DLQ_RECORDS = Counter(
    "jobcast_dlq_records_total", "Records sent to a dead-letter topic", ["topic", "reason"]
)
HANDLER_SECONDS = Histogram(
    "jobcast_handler_duration_seconds", "Time to handle one consumed record", ["topic"]
)
HANDLER_RETRIES = Counter(
    "jobcast_handler_retries_total", "In-place retries after a handler error", ["topic"]
)
