"""The LinkedIn API settings every service that calls LinkedIn reads: one version, one place."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_VERSION = "202611"


class LinkedInSettings(BaseSettings):
    """Mixed into the settings of the services that call LinkedIn (unprefixed names)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # api.linkedin.com (the local stack points it at the sandbox's `{GRAPH_API_URL}/linkedin`).
    linkedin_api_url: str = Field(
        default="https://api.linkedin.com", validation_alias="LINKEDIN_API_URL"
    )
    # The `LinkedIn-Version` header (YYYYMM) on every versioned call. LinkedIn serves a
    # version for about a year and answers 426 NONEXISTENT_VERSION after: move it forward.
    linkedin_api_version: str = Field(
        default=DEFAULT_API_VERSION, pattern=r"^\d{6}$", validation_alias="LINKEDIN_API_VERSION"
    )
    # How long one LinkedIn call may wait (connecting, or between answer bytes); past it the
    # outcome is ambiguous and reconciled.
    linkedin_timeout_seconds: float = Field(
        default=30.0, gt=0, validation_alias="LINKEDIN_TIMEOUT_SECONDS"
    )
