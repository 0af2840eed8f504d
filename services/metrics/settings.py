"""Metrics service settings (env prefix `METRICS_`)."""

from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings


class MetricsSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", frozen=True, extra="ignore")

    port: int = 8085
