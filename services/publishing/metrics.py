"""Publishing metrics (bounded labels: platform, status, error class, reason); the Graph
call metrics are `jobcast.graph.metrics`."""

from prometheus_client import Counter, Histogram

from jobcast.graph import metrics as graph_metrics
from schemas.publish import ErrorClass, PublishStatus

OUTCOMES = Counter(
    "jobcast_publish_outcomes_total",
    "Publish attempts by platform, resulting status and error class",
    ["platform", "status", "error_class"],
)
FIRST_COMMENTS = Counter(
    "jobcast_first_comment_outcomes_total",
    "First-comment attempts by platform, resulting status and error class",
    ["platform", "status", "error_class"],
)
GRAPH_ERRORS = Counter(
    "jobcast_graph_errors_total", "Graph API errors by class", ["platform", "error_class"]
)
PACED = Counter(
    "jobcast_rate_limit_pauses_total",
    "Attempts deferred to a timer because of Meta's limits: `paced` (usage headers said "
    "slow down) or `rate_limited` (Meta answered with a rate-limit error)",
    ["platform", "reason"],
)
PUBLISH_DELAY = Histogram(
    "jobcast_publish_delay_seconds",
    "From the publish command being issued (the post fell due) to the post being live, "
    "retries and confirmation included. Add the distributor's timer lateness for the whole "
    "scheduled-to-live delay.",
    ["platform"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0),
)

PAUSE_REASONS = ("paced", "rate_limited")


def export_zero_series(platform: str) -> None:
    """Create every bounded label set of this platform at 0, so rates, ratios and alerts
    have a series from the first scrape instead of "no data" until the first failure."""
    for error_class in ErrorClass:
        GRAPH_ERRORS.labels(platform=platform, error_class=error_class.value)
        OUTCOMES.labels(
            platform=platform, status=PublishStatus.FAILED.value, error_class=error_class.value
        )
    for status in (PublishStatus.POSTED, PublishStatus.UNCONFIRMED, PublishStatus.RETRY_SCHEDULED):
        OUTCOMES.labels(platform=platform, status=status.value, error_class="")
        FIRST_COMMENTS.labels(platform=platform, status=status.value, error_class="")
    for reason in PAUSE_REASONS:
        PACED.labels(platform=platform, reason=reason)
    graph_metrics.export_zero_series(platform)
    PUBLISH_DELAY.labels(platform=platform)
