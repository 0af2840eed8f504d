"""Settings both publishers read; each subclass sets its env prefix and port."""

from pydantic import Field, SecretStr

from jobcast.settings import CommonSettings


class PublisherSettings(CommonSettings):
    graph_api_url: str = Field(
        default="https://graph.facebook.com", validation_alias="GRAPH_API_URL"
    )
    graph_api_version: str = Field(default="v24.0", validation_alias="GRAPH_API_VERSION")
    graph_app_secret: SecretStr | None = Field(default=None, validation_alias="GRAPH_APP_SECRET")
    graph_timeout_seconds: float = Field(default=30.0, validation_alias="GRAPH_TIMEOUT_SECONDS")
