"""LinkedIn publisher settings (env prefix `PUBLISHER_LINKEDIN_`; the LinkedIn and the
publishers' shared settings unprefixed)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from jobcast.linkedin.settings import LinkedInSettings
from services.publishing.settings import PublisherSettings


class LinkedInPublisherSettings(PublisherSettings, LinkedInSettings):
    model_config = SettingsConfigDict(env_prefix="PUBLISHER_LINKEDIN_", frozen=True, extra="ignore")

    # HTTP port: the ops endpoints.
    port: int = 8088
    # Connections to LinkedIn at once (one per record in flight, as each makes one call at
    # a time).
    max_connections: int = Field(default=256, ge=1)
    # How often an image still processing is looked at.
    image_poll_seconds: float = Field(default=1.0, gt=0)
    # How long a post waits in line for its image before it is parked on a timer.
    image_inline_wait_seconds: float = Field(default=3.0, ge=0)
    # When a parked image is looked at again.
    image_resume_after_seconds: float = Field(default=30.0, gt=0)
    # How long an image may process before the post fails.
    image_max_wait_seconds: float = Field(default=300.0, gt=0)
    # The largest image fetched from a job's media URL for upload (LinkedIn takes images
    # up to about 36 million pixels); a larger one fails its post without an upload.
    image_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # How long fetching an image from its media URL may wait (connecting, between bytes).
    image_fetch_timeout_seconds: float = Field(default=30.0, gt=0)
    # Development only: fetch media through this relay (`{relay}?url=<media URL>`) instead
    # of from the media URL's public host. The local stack and the tests point it at the
    # sandbox (`{GRAPH_API_URL}/_sandbox/linkedin/media`), which answers a small image for
    # the made-up hosts their jobs name. Unset: media is fetched from public addresses only.
    media_relay_url: str | None = None
