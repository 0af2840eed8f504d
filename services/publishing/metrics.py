"""Publishing metrics (bounded labels: platform, status, error class, method, outcome)."""

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

from jobcast.metrics import child
from schemas.publish import ErrorClass, PublishStatus
from services.publishing.pacing import Usage

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
    "Attempts deferred to a timer because of Meta's limits: `paced` (usage headers said "
    "slow down) or `rate_limited` (Meta answered with a rate-limit error)",
    ["platform", "reason"],
)
GRAPH_SECONDS = Histogram(
    "jobcast_graph_request_duration_seconds",
    "Graph API call latency, by platform, HTTP method and outcome "
    "(ok, graph_error, no_body, transport_error)",
    ["platform", "method", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
)
APP_USAGE = Gauge(
    "jobcast_graph_app_usage_percent",
    "The app's usage as the last X-App-Usage header said (highest of its percentages)",
    ["platform"],
)
ACCOUNT_USAGE = Histogram(
    "jobcast_graph_account_usage_percent",
    "Per-account usage from X-Business-Use-Case-Usage, one observation per account per "
    "response (a distribution: accounts are not labels)",
    ["platform"],
    buckets=(10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 100.0),
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
GRAPH_OUTCOMES = ("ok", "graph_error", "no_body", "transport_error")


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
    for reason in PAUSE_REASONS:
        PACED.labels(platform=platform, reason=reason)
    for method in ("GET", "POST"):
        for outcome in GRAPH_OUTCOMES:
            GRAPH_SECONDS.labels(platform=platform, method=method, outcome=outcome)
    APP_USAGE.labels(platform=platform)
    ACCOUNT_USAGE.labels(platform=platform)
    PUBLISH_DELAY.labels(platform=platform)


def observe_usage(platform: str, app: Usage | None, business: Mapping[str, Usage]) -> None:
    """Record a response's usage headers."""
    if app is not None:
        child(APP_USAGE, platform).set(app.percent)
    account_usage = child(ACCOUNT_USAGE, platform)
    for usage in business.values():
        account_usage.observe(usage.percent)
