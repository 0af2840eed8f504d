"""Distributor metrics (labels bounded: platform, state, outcome)."""

from prometheus_client import Counter, Gauge, Histogram

TIMER_LATENESS = Histogram(
    "jobcast_distributor_timer_lateness_seconds",
    "How long after its due time a post was sent (or held) by the timer",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0),
)
POSTS_PLANNED = Counter(
    "jobcast_distributor_posts_planned_total",
    "Posts planned, by platform, action and the state they start in",
    ["platform", "action", "state"],
)
POSTS_SENT = Counter(
    "jobcast_distributor_posts_sent_total",
    "Commands handed to a publisher's topic, by platform and action",
    ["platform", "action"],
)
POSTS_HELD = Counter(
    "jobcast_distributor_posts_held_total", "Due posts held by a pause", ["platform"]
)
SKIPS = Counter(
    "jobcast_distributor_skips_total", "Connections a job was not posted to", ["platform"]
)
TIMERS_PENDING = Gauge(
    "jobcast_distributor_timers_pending",
    "Posts waiting in the distributor, by state (scheduled, awaiting_approval, held)",
    ["state"],
)
OPERATOR_COMMANDS = Counter(
    "jobcast_distributor_operator_commands_total",
    "Operator commands applied, by action and whether they changed anything",
    ["action", "outcome"],
)
