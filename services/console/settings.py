"""Console settings (env prefix `CONSOLE_`)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings


class ConsoleSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", frozen=True, extra="ignore")

    # HTTP port: the console's pages and the ops endpoints.
    port: int = 8086
    # Ingest: job events and operator commands. The console reads and writes only through
    # these three APIs, with the signed-in person's key.
    ingest_url: str = Field(
        default="http://127.0.0.1:8081",
        validation_alias=AliasChoices("CONSOLE_INGEST_URL", "JOBCAST_INGEST_URL"),
    )
    # (see CONSOLE_INGEST_URL): the read API (posts, analytics, the live stream).
    read_api_url: str = Field(
        default="http://127.0.0.1:8085",
        validation_alias=AliasChoices("CONSOLE_READ_API_URL", "JOBCAST_READ_API_URL"),
    )
    # (see CONSOLE_INGEST_URL): connections and previews.
    distributor_url: str = Field(
        default="http://127.0.0.1:8082",
        validation_alias=AliasChoices("CONSOLE_DISTRIBUTOR_URL", "JOBCAST_DISTRIBUTOR_URL"),
    )
    # A session ends this long after sign-in, or after this long unused (idle), whichever first.
    session_hours: float = Field(default=8.0, gt=0)
    # (see CONSOLE_SESSION_HOURS)
    session_idle_minutes: float = Field(default=60.0, gt=0)
    # Uploads (bulk import) larger than this are refused (413) before they are parsed.
    max_upload_bytes: int = Field(default=2_097_152, ge=1)
    # Timeout of each call to the APIs above, in seconds.
    api_timeout_seconds: float = Field(default=10.0, gt=0)
