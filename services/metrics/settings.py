"""Metrics service settings (env prefix `METRICS_`; Graph API and LinkedIn API settings
shared with the publishers)."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jobcast.graph.settings import GraphSettings
from jobcast.linkedin.settings import LinkedInSettings
from jobcast.settings import CommonSettings


class MetricsSettings(CommonSettings, GraphSettings, LinkedInSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", frozen=True, extra="ignore")

    # HTTP port: the read API, SSE, webhook registration and the ops endpoints.
    port: int = 8085
    # Request bodies (413 past it): only webhook registration and replay take one.
    max_body_bytes: int = Field(default=65_536, ge=0)
    # Reads of the read API per tenant (per instance): a burst, then this many per second;
    # past that, 429 with Retry-After. (A live view should use the stream, not polling.)
    read_rate_limit_per_second: float = Field(default=50.0, gt=0)
    # (see METRICS_READ_RATE_LIMIT_PER_SECOND)
    read_rate_limit_burst: float = Field(default=200.0, ge=1)
    # Results per poll, materialised in one transaction.
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # SSE: a comment line this often on an idle stream; events buffered per client.
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # (see METRICS_SSE_KEEPALIVE_SECONDS): a client further behind is closed.
    sse_client_buffer: int = Field(default=1000, ge=1)
    # Engagement: seconds after posting at which insights are read (1 h, 24 h, 72 h, 7 d).
    engagement_schedule: tuple[int, ...] = (3600, 86_400, 259_200, 604_800)
    # How often the engagement collector looks for due checkpoints.
    engagement_poll_seconds: float = Field(default=5.0, gt=0)
    # Checkpoints the collector takes per round.
    engagement_batch: int = Field(default=50, ge=1)
    # How long a taken checkpoint is held before another instance may take it.
    engagement_lease_seconds: float = Field(default=120.0, gt=0)
    # A failed read is tried again after these delays, then the checkpoint is failed.
    engagement_retry_delays: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0)
    # How long a decrypted token (and its connection's status) is reused.
    engagement_token_cache_seconds: float = Field(default=30.0, ge=0)
    # Outbound webhooks: retry tiers (then dead), request timeout, how often to look.
    webhook_retry_delays: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0, 7200.0)
    # (see METRICS_WEBHOOK_RETRY_DELAYS)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # (see METRICS_WEBHOOK_RETRY_DELAYS)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # Accept http:// webhook URLs (local development and tests).
    webhook_allow_insecure_urls: bool = False
    # Let webhooks reach loopback (127.0.0.0/8, ::1, localhost): a receiver on this machine,
    # for local development and tests only. Private, link-local, CGNAT and other non-public
    # addresses are refused whatever this says, at registration and at every delivery.
    webhook_allow_loopback: bool = False
    # The Graph API, as the publishers call it.
    graph_api_url: str = Field(
        default="https://graph.facebook.com", validation_alias="GRAPH_API_URL"
    )
    # (as for the publishers)
    graph_app_secret: SecretStr | None = Field(default=None, validation_alias="GRAPH_APP_SECRET")
    # (as for the publishers)
    graph_timeout_seconds: float = Field(default=30.0, validation_alias="GRAPH_TIMEOUT_SECONDS")
    # How long to leave an account alone after a rate-limit error that names no regain time.
    rate_limit_block_seconds: float = Field(
        default=300.0, gt=0, validation_alias="PUBLISH_RATE_LIMIT_BLOCK_SECONDS"
    )
