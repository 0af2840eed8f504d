"""Distributor settings (env prefix `DISTRIBUTOR_`)."""

from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings


class DistributorSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="DISTRIBUTOR_", frozen=True, extra="ignore")

    port: int = 8082
