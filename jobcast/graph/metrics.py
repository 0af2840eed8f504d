"""Graph API call metrics (bounded labels: platform, method, outcome)."""

from collections.abc import Mapping

from prometheus_client import Gauge, Histogram

from jobcast.graph.pacing import Usage
from jobcast.metrics import child

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

GRAPH_OUTCOMES = ("ok", "graph_error", "no_body", "transport_error")


def export_zero_series(platform: str) -> None:
    """Create this platform's Graph call series at 0 (see the publishers' metrics)."""
    for method in ("GET", "POST"):
        for outcome in GRAPH_OUTCOMES:
            GRAPH_SECONDS.labels(platform=platform, method=method, outcome=outcome)
    APP_USAGE.labels(platform=platform)
    ACCOUNT_USAGE.labels(platform=platform)


def observe_usage(platform: str, app: Usage | None, business: Mapping[str, Usage]) -> None:
    """Record a response's usage headers."""
    if app is not None:
        child(APP_USAGE, platform).set(app.percent)
    account_usage = child(ACCOUNT_USAGE, platform)
    for usage in business.values():
        account_usage.observe(usage.percent)
