"""Instagram publisher settings (env prefix `PUBLISHER_INSTAGRAM_`, Graph settings unprefixed)."""

from pydantic_settings import SettingsConfigDict

from services.publishing.settings import ContainerPublisherSettings


class InstagramPublisherSettings(ContainerPublisherSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUBLISHER_INSTAGRAM_", frozen=True, extra="ignore"
    )

    # HTTP port: the ops endpoints.
    port: int = 8084
