"""Instagram publisher settings (env prefix `PUBLISHER_INSTAGRAM_`, Graph settings unprefixed)."""

from pydantic_settings import SettingsConfigDict

from services.publishing.settings import PublisherSettings


class InstagramPublisherSettings(PublisherSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUBLISHER_INSTAGRAM_", frozen=True, extra="ignore"
    )

    # HTTP port: the ops endpoints.
    port: int = 8084
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
