"""The Graph API settings every service that calls Meta reads: one version, one place."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GraphSettings(BaseSettings):
    """Mixed into the distributor's, the publishers' and the metrics service's settings."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # The Graph API version in every call's path, on both hosts (v26.0 released 2026-07-29).
    graph_api_version: str = Field(default="v26.0", validation_alias="GRAPH_API_VERSION")
    # The Instagram API with Instagram Login's host: connections made through Instagram's
    # own login publish and refresh their tokens here (the local stack points it at the
    # sandbox's `/instagram-graph`). Facebook-Login connections use GRAPH_API_URL.
    graph_instagram_url: str = Field(
        default="https://graph.instagram.com", validation_alias="GRAPH_INSTAGRAM_URL"
    )
    # The Threads API's host: Threads connections publish and refresh their tokens here
    # (the local stack points it at the sandbox's `/threads-graph`).
    graph_threads_url: str = Field(
        default="https://graph.threads.net", validation_alias="GRAPH_THREADS_URL"
    )
    # The Threads API's version, which Meta numbers apart from the Graph API's.
    graph_threads_version: str = Field(default="v1.0", validation_alias="GRAPH_THREADS_VERSION")
