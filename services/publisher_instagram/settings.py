"""Instagram publisher settings (env prefix `PUBLISHER_INSTAGRAM_`, Graph settings unprefixed)."""

from pydantic_settings import SettingsConfigDict

from services.publishing.settings import PublisherSettings


class InstagramPublisherSettings(PublisherSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUBLISHER_INSTAGRAM_", frozen=True, extra="ignore"
    )

    port: int = 8084
    container_poll_seconds: float = 1.0
    container_inline_wait_seconds: float = 3.0
    container_resume_after_seconds: float = 30.0
    container_max_wait_seconds: float = 300.0
    quota_retry_seconds: float = 900.0
