"""Ingest settings (env prefix `INGEST_`)."""

from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", frozen=True, extra="ignore")

    port: int = 8081
    max_body_bytes: int = 4_194_304  # room for a full batch of 500 events
    rate_limit_per_second: float = 2_000.0  # events per tenant per second (per instance)
    rate_limit_burst: float = 5_000.0
