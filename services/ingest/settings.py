"""Ingest settings (env prefix `INGEST_`)."""

from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", frozen=True, extra="ignore")

    port: int = 8081
    max_body_bytes: int = 1_048_576
