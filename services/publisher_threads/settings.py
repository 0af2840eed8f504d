"""Threads publisher settings (env prefix `PUBLISHER_THREADS_`, Graph settings unprefixed)."""

from pydantic_settings import SettingsConfigDict

from services.publishing.settings import ContainerPublisherSettings


class ThreadsPublisherSettings(ContainerPublisherSettings):
    model_config = SettingsConfigDict(env_prefix="PUBLISHER_THREADS_", frozen=True, extra="ignore")

    # HTTP port: the ops endpoints.
    port: int = 8087
