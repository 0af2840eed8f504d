"""Instagram publisher settings (env prefix `PUBLISHER_INSTAGRAM_`, Graph settings unprefixed)."""

from pydantic_settings import SettingsConfigDict

from services.publishing.settings import PublisherSettings


class InstagramPublisherSettings(PublisherSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUBLISHER_INSTAGRAM_", frozen=True, extra="ignore"
    )

    port: int = 8084
    container_poll_seconds: float = 1.0
    container_max_wait_seconds: float = 300.0
