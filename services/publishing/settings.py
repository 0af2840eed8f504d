"""Settings every publisher reads; each subclass sets its env prefix and port."""

from pydantic import Field, SecretStr

from jobcast.graph.settings import GraphSettings
from jobcast.settings import CommonSettings
from services.publishing.containers import ContainerTiming


class PublisherSettings(CommonSettings, GraphSettings):
    # The Graph API's base URL (the local sandbox under make up and in tests).
    graph_api_url: str = Field(
        default="https://graph.facebook.com", validation_alias="GRAPH_API_URL"
    )
    # When set, every call carries appsecret_proof.
    graph_app_secret: SecretStr | None = Field(default=None, validation_alias="GRAPH_APP_SECRET")
    # How long one Graph call may take; past it the outcome is ambiguous and reconciled.
    graph_timeout_seconds: float = Field(default=30.0, validation_alias="GRAPH_TIMEOUT_SECONDS")
    # Connections to the Graph API at once: about one per record in flight, as each
    # makes one call at a time.
    graph_max_connections: int = Field(default=1024, ge=1, validation_alias="GRAPH_MAX_CONNECTIONS")
    # Retry tiers for transient failures (seconds) and the attempt cap.
    retry_delays: tuple[float, ...] = Field(
        default=(30.0, 120.0, 300.0, 900.0, 3600.0), validation_alias="PUBLISH_RETRY_DELAYS"
    )
    # (see PUBLISH_RETRY_DELAYS): attempts before a post is failed.
    max_attempts: int = Field(default=5, ge=1, validation_alias="PUBLISH_MAX_ATTEMPTS")
    # When an unconfirmed post is looked for again (seconds after each check).
    confirm_delays: tuple[float, ...] = Field(
        default=(60.0, 300.0, 900.0, 3600.0), validation_alias="PUBLISH_CONFIRM_DELAYS"
    )
    # How long to leave an account alone after a rate-limit error that names no regain time.
    rate_limit_block_seconds: float = Field(
        default=300.0, gt=0, validation_alias="PUBLISH_RATE_LIMIT_BLOCK_SECONDS"
    )
    # How long a claim is held; an attempt is bounded to half of it.
    lease_seconds: float = Field(default=300.0, gt=0, validation_alias="PUBLISH_LEASE_SECONDS")
    # Concurrency: records in flight per process, and per account: an account's jobs are
    # spread over this many lanes (a job's own commands always share one; see lanes.py).
    # 1 posts an account's jobs in the order they were sent (released holds included).
    max_in_flight: int = Field(default=1000, ge=1, validation_alias="PUBLISH_MAX_IN_FLIGHT")
    # (see PUBLISH_MAX_IN_FLIGHT): lanes per account.
    per_account_concurrency: int = Field(
        default=1, ge=1, validation_alias="PUBLISH_PER_ACCOUNT_CONCURRENCY"
    )
    # Posts of a lane that may start before their turn: each is claimed and prepared (an
    # Instagram or Threads container) while the post before it goes out, and waits for
    # its turn to publish. 0: a post starts only when the one before it is done.
    prepare_ahead: int = Field(default=2, ge=0, le=100, validation_alias="PUBLISH_PREPARE_AHEAD")
    # At SIGTERM, how long records in flight may finish before they are left for redelivery.
    stop_timeout_seconds: float = Field(default=20.0, gt=0, validation_alias="PUBLISH_STOP_TIMEOUT")
    # How often the timer loop looks for due retries and checks.
    timer_poll_seconds: float = Field(
        default=0.5, gt=0, validation_alias="PUBLISH_TIMER_POLL_SECONDS"
    )


class ContainerPublisherSettings(PublisherSettings):
    """A publisher of Meta's container flow (Instagram, Threads)."""

    # How often a container still processing is looked at.
    container_poll_seconds: float = 1.0
    # How long a post waits in line for its container before it is parked on a timer.
    container_inline_wait_seconds: float = 3.0
    # When a parked container is looked at again.
    container_resume_after_seconds: float = 30.0
    # How long a container may process before the post fails.
    container_max_wait_seconds: float = 300.0
    # When a post held by the publishing quota is tried again.
    quota_retry_seconds: float = 900.0

    def container_timing(self) -> ContainerTiming:
        return ContainerTiming(
            inline_wait_seconds=self.container_inline_wait_seconds,
            poll_interval_seconds=self.container_poll_seconds,
            resume_after_seconds=self.container_resume_after_seconds,
            give_up_after_seconds=self.container_max_wait_seconds,
            quota_retry_seconds=self.quota_retry_seconds,
        )
