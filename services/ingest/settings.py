"""Ingest settings (env prefix `INGEST_`)."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jobcast.settings import CommonSettings
from schemas.bounds import MAX_EVENT_BYTES


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", frozen=True, extra="ignore")

    # HTTP port: the front door's API and the ops endpoints.
    port: int = 8081
    # The largest event (its JSON) accepted: the broker's limit less room for headers. The
    # contract's bounds keep every valid event well under it; lower it to refuse sooner.
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=1, le=MAX_EVENT_BYTES)
    # Request bodies, every route (413 past it): room for a full batch of 500 events. Meta
    # webhook deliveries (read before their signature can be checked) have their own.
    max_body_bytes: int = Field(default=4_194_304, ge=0)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=0)  # Meta: <= 1,000 changes
    rate_limit_per_second: float = 2_000.0  # events per tenant per second (per instance)
    # (see INGEST_RATE_LIMIT_PER_SECOND): the burst a tenant may send at once.
    rate_limit_burst: float = 5_000.0
    incoming_max_in_flight: int = 2_000  # records of jobs.incoming handled at once
    # Concurrent submissions share flushes (one SELECT, one produce request, one INSERT):
    # at most this many events per flush, and this many flushes under way at once.
    accept_max_events_per_flush: int = Field(default=2_000, ge=1)
    # (see INGEST_ACCEPT_MAX_EVENTS_PER_FLUSH)
    accept_flushes_in_flight: int = Field(default=1, ge=1)
    # Under load (submissions arriving while a flush is under way) a flush waits up to this
    # long for more: fewer, fuller flushes, and so fewer round trips at every hop after
    # ingest. 0: never wait.
    accept_linger_seconds: float = Field(default=0.05, ge=0, le=1)
    # A waiting flush goes as soon as this many events are queued (so fast traffic waits
    # little however long the linger).
    accept_linger_events: int = Field(default=16, ge=1)
    # Meta webhooks: the verify token chosen in the app dashboard, and the app secret
    # that signs deliveries (the same secret publishers use for appsecret_proof).
    meta_webhook_verify_token: SecretStr | None = Field(
        default=None, validation_alias="META_WEBHOOK_VERIFY_TOKEN"
    )
    # Checks X-Hub-Signature-256 on Meta webhook deliveries (webhooks answer 503 until set).
    meta_app_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("META_APP_SECRET", "GRAPH_APP_SECRET")
    )
    webhook_retention_hours: float = 72.0  # Meta retries a delivery for up to 36 h
