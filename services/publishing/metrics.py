"""Publishing metrics (bounded labels: platform, status, error class)."""

from prometheus_client import Counter

OUTCOMES = Counter(
    "jobcast_publish_outcomes_total",
    "Publish attempts by platform, resulting status and error class",
    ["platform", "status", "error_class"],
)
GRAPH_ERRORS = Counter(
    "jobcast_graph_errors_total", "Graph API errors by class", ["platform", "error_class"]
)
PACED = Counter(
    "jobcast_rate_limit_pauses_total",
    "Attempts deferred because the account or app is paced or rate limited",
    ["platform"],
)
