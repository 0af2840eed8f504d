"""Facebook publisher settings (env prefix `PUBLISHER_FACEBOOK_`, Graph settings unprefixed)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.publishing.settings import PublisherSettings


class FacebookPublisherSettings(PublisherSettings):
    model_config = SettingsConfigDict(env_prefix="PUBLISHER_FACEBOOK_", frozen=True, extra="ignore")

    # HTTP port: the ops endpoints.
    port: int = 8083
    # Meta's upload host for Page Reels (the local sandbox under make up and in tests).
    rupload_url: str = Field(
        default="https://rupload.facebook.com", validation_alias="FACEBOOK_RUPLOAD_URL"
    )
