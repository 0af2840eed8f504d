"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Endpoints and secrets every service reads from the same unprefixed variables.

    Service-specific fields take the subclass's `env_prefix`; these use explicit
    aliases so one `.jobcast/env` file configures the whole stack.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # The Kafka broker(s), host:port, comma-separated.
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # The Postgres database every service keeps its schema in.
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://jobcast:jobcast@127.0.0.1:55432/jobcast"),
        validation_alias="DATABASE_URL",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias="JOBCAST_SECRET_KEY",
        description="Fernet key(s), comma-separated, newest first: encrypts tokens at rest.",
    )
    # JSON logs on stderr at this level (DEBUG, INFO, WARNING, ERROR).
    log_level: str = Field(default="INFO", validation_alias="JOBCAST_LOG_LEVEL")
    # The address the HTTP server binds (API and /healthz, /readyz, /metrics).
    http_host: str = Field(default="127.0.0.1", validation_alias="JOBCAST_HTTP_HOST")
    http_keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        validation_alias="JOBCAST_HTTP_KEEP_ALIVE_SECONDS",
        description=(
            "How long an idle HTTP connection is kept open. Longer than the clients' and any "
            "load balancer's idle timeout, so the client closes first: a server closing a "
            "connection the client is reusing fails that request."
        ),
    )
    stall_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="JOBCAST_STALL_SECONDS",
        description="A consumer whose handler keeps failing this long is not ready (/readyz).",
    )
    # Failed authentications (unknown or revoked API keys) per client address, per process:
    # a burst, then this many per second; past that, 429 before the key is looked up.
    auth_failure_burst: float = Field(
        default=20.0, ge=1, validation_alias="JOBCAST_AUTH_FAILURE_BURST"
    )
    # (see JOBCAST_AUTH_FAILURE_BURST)
    auth_failures_per_second: float = Field(
        default=0.5, gt=0, validation_alias="JOBCAST_AUTH_FAILURES_PER_SECOND"
    )
