"""Distributor settings (env prefix `DISTRIBUTOR_`)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jobcast.graph.settings import GraphSettings
from jobcast.linkedin.login import LINKEDIN_SCOPES
from jobcast.linkedin.settings import LinkedInSettings
from jobcast.settings import CommonSettings


class DistributorSettings(CommonSettings, GraphSettings, LinkedInSettings):
    model_config = SettingsConfigDict(env_prefix="DISTRIBUTOR_", frozen=True, extra="ignore")

    # HTTP port: preview, connections and OAuth, and the ops endpoints.
    port: int = 8082
    # Request bodies (413 past it): a preview's job posting is at most an event's size.
    max_body_bytes: int = Field(default=1_048_576, ge=0)
    # The timer: how often it looks for due posts when nothing woke it, and how many it
    # sends per transaction.
    timer_poll_seconds: float = 0.2
    # (see DISTRIBUTOR_TIMER_POLL_SECONDS)
    timer_batch_size: int = 1000
    # Job events handled per transaction (at most; a quiet topic gives smaller batches).
    batch_size: int = 500
    # Tests only: a file holding seconds to add to the clock (see clock.py).
    clock_offset_file: Path | None = None

    # Connections (Facebook Login). The Graph settings share the publishers' variables.
    graph_api_url: str = Field(
        default="https://graph.facebook.com", validation_alias="GRAPH_API_URL"
    )
    # The Meta app's id: Facebook Login (OAuth) needs it with GRAPH_APP_SECRET.
    graph_app_id: str | None = Field(default=None, validation_alias="GRAPH_APP_ID")
    # The Meta app's secret: OAuth code exchange, appsecret_proof on every call.
    graph_app_secret: SecretStr | None = Field(default=None, validation_alias="GRAPH_APP_SECRET")
    # How long one Graph call may take.
    graph_timeout_seconds: float = Field(default=30.0, validation_alias="GRAPH_TIMEOUT_SECONDS")
    # Where the browser is sent to consent; `{version}` is filled in. The local stack points
    # it at the sandbox's `/dialog/oauth`.
    oauth_dialog_url: str = "https://www.facebook.com/{version}/dialog/oauth"
    # The distributor's address as the browser sees it: the OAuth redirect_uri is built on it.
    public_url: str = "http://127.0.0.1:8082"
    # The permissions Facebook Login asks for.
    oauth_scopes: tuple[str, ...] = (
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "pages_manage_engagement",  # first comments on Page posts
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_comments",  # first comments on IG media
        "business_management",
    )
    # Instagram Login (accounts without a Facebook Page): the Instagram app's id, shown in
    # the App Dashboard under Instagram > API setup with Instagram login (not the Meta app's).
    instagram_app_id: str | None = Field(default=None, validation_alias="INSTAGRAM_APP_ID")
    # The Instagram app's secret: the code exchange and the long-lived token exchange.
    instagram_app_secret: SecretStr | None = Field(
        default=None, validation_alias="INSTAGRAM_APP_SECRET"
    )
    # Where the browser is sent to consent with Instagram. The local stack points it at the
    # sandbox's `/instagram-www/oauth/authorize`.
    instagram_dialog_url: str = "https://www.instagram.com/oauth/authorize"
    # Where an Instagram authorization code is exchanged (`/oauth/access_token` below it).
    # The local stack points it at the sandbox's `/instagram-api`.
    instagram_api_url: str = "https://api.instagram.com"
    # The permissions Instagram Login asks for.
    instagram_oauth_scopes: tuple[str, ...] = (
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",  # first comments
    )
    # Threads (its own OAuth and its own app): the Threads app's id, shown in the App
    # Dashboard under App settings > Basic > Threads App ID (not the Meta app's).
    threads_app_id: str | None = Field(default=None, validation_alias="THREADS_APP_ID")
    # The Threads app's secret: the code exchange and the long-lived token exchange.
    threads_app_secret: SecretStr | None = Field(
        default=None, validation_alias="THREADS_APP_SECRET"
    )
    # Where the browser is sent to consent with Threads. The local stack points it at the
    # sandbox's `/threads-www/oauth/authorize`. The code exchange, the token exchange and
    # refresh and `/me` go to GRAPH_THREADS_URL.
    threads_dialog_url: str = "https://threads.net/oauth/authorize"
    # The permissions Threads' dialog asks for.
    threads_oauth_scopes: tuple[str, ...] = (
        "threads_basic",
        "threads_content_publish",
        "threads_manage_insights",  # views, likes, replies, reposts, quotes
        "threads_manage_replies",  # first comments (replies)
        "threads_delete",  # deleting the post when its job closes
    )
    # LinkedIn (organization pages): the app's client id, from the LinkedIn Developer
    # Portal (Auth tab); the app needs the Community Management API product.
    linkedin_client_id: str | None = Field(default=None, validation_alias="LINKEDIN_CLIENT_ID")
    # The LinkedIn app's client secret: the code exchange, refreshes and introspection.
    linkedin_client_secret: SecretStr | None = Field(
        default=None, validation_alias="LINKEDIN_CLIENT_SECRET"
    )
    # LinkedIn's OAuth 2.0 base: the consent dialog is `/authorization` below it (a browser
    # address), the token calls `/accessToken` and `/introspectToken`. The local stack
    # points it at the sandbox's `/linkedin-www/oauth/v2`.
    linkedin_oauth_url: str = "https://www.linkedin.com/oauth/v2"
    # The permissions LinkedIn's consent asks for: post as the organization, read its posts,
    # list the organizations the member administers.
    linkedin_oauth_scopes: tuple[str, ...] = LINKEDIN_SCOPES
    # How long an OAuth state (a started connect) stays valid.
    oauth_state_ttl_seconds: float = Field(default=600.0, gt=0)
    # Token health: each connection is refreshed when due and checked (debug_token; /me for
    # Instagram Login and Threads) this often, and an expiry closer than the warning window
    # is announced (once) on `connections.events`.
    verify_interval_seconds: float = Field(default=6 * 3600.0, gt=0)
    # (see DISTRIBUTOR_VERIFY_INTERVAL_SECONDS)
    expiry_warning_seconds: float = Field(default=7 * 86400.0, ge=0)
    # A token that can be refreshed (Instagram Login and Threads: at least 24 h old; a
    # short-lived Facebook user token: exchanged for a long-lived one; LinkedIn: while its
    # refresh token lives) is refreshed by the check once it expires within this window,
    # before any expiry warning would be due.
    refresh_before_seconds: float = Field(default=30 * 86400.0, ge=0)
