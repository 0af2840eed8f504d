"""A tenant's content profile as sent and stored: validation and its JSON form. Pure: no I/O.

`TenantProfile` (in `models`) is what the pure content code reads; its defaults are what
a tenant with no stored profile gets. `TenantProfileInput` validates what an operator or
an API client sends, with errors that name the field. Profiles are stored as this JSON
(`repo_profiles`).
"""

from __future__ import annotations

from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from schemas.bounds import Text
from schemas.platforms import Platform
from services.distributor.captions import THREADS_MAX_TAG_LENGTH, normalise_hashtags
from services.distributor.models import Language, TenantProfile, UpdatePolicy, default_utm

MAX_PROFILE_HASHTAGS = 30
MAX_FOOTER_LENGTH = 500
MAX_UTM_PARAMS = 10


UtmKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
UtmValue = Annotated[Text, Field(min_length=1, max_length=200)]
HashtagInput = Annotated[Text, Field(min_length=1, max_length=50)]
TopicTag = Annotated[
    Text,
    Field(
        max_length=THREADS_MAX_TAG_LENGTH,
        pattern=r"^[^.&]*$",
        description="Threads: the one topic tag of every post (no '.' or '&'); '': the"
        " post's first hashtag",
    ),
]


class TenantProfileInput(BaseModel):
    """A profile as sent by an operator or client; every field optional (defaults apply).

    `utm` names only the platforms to change: the others keep their default attribution;
    `{}` for a platform turns its attribution off.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    language: Language = "en"
    locale: str = "en_US"
    hashtags: Annotated[list[HashtagInput], Field(max_length=MAX_PROFILE_HASHTAGS)] = []
    footer: Annotated[Text, Field(max_length=MAX_FOOTER_LENGTH)] = ""
    default_image_url: HttpUrl | None = None
    utm: dict[Platform, Annotated[dict[UtmKey, UtmValue], Field(max_length=MAX_UTM_PARAMS)]] = (
        Field(default_factory=default_utm)
    )
    require_approval: bool = False
    update_policy: UpdatePolicy = "edit"
    timezone: str = "UTC"
    facebook_video_as_reel: bool = False
    instagram_hashtags_in_first_comment: bool = False
    threads_topic_tag: TopicTag = ""

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown locale {value!r} (e.g. en_US, id_ID)") from exc

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("hashtags")
    @classmethod
    def _usable_hashtags(cls, value: list[str]) -> list[str]:
        for raw in value:
            if not normalise_hashtags([raw]):
                raise ValueError(f"{raw!r} is not a usable hashtag (needs a letter or digit)")
        return normalise_hashtags(value)

    @field_validator("threads_topic_tag")
    @classmethod
    def _usable_topic_tag(cls, value: str) -> str:
        if value and not normalise_hashtags([value]):
            raise ValueError(f"{value!r} is not a usable topic tag (needs a letter or digit)")
        return value

    @field_validator("utm")
    @classmethod
    def _keep_default_attribution(
        cls, value: dict[Platform, dict[str, str]]
    ) -> dict[Platform, dict[str, str]]:
        return {**default_utm(), **value}

    def to_profile(self) -> TenantProfile:
        """The validated profile the content code uses."""
        return TenantProfile(
            language=self.language,
            locale=self.locale,
            hashtags=tuple(self.hashtags),
            footer=self.footer,
            default_image_url=str(self.default_image_url) if self.default_image_url else None,
            utm={platform: dict(params) for platform, params in self.utm.items()},
            require_approval=self.require_approval,
            update_policy=self.update_policy,
            timezone=self.timezone,
            facebook_video_as_reel=self.facebook_video_as_reel,
            instagram_hashtags_in_first_comment=self.instagram_hashtags_in_first_comment,
            threads_topic_tag=self.threads_topic_tag,
        )

    @classmethod
    def from_profile(cls, profile: TenantProfile) -> Self:
        """The input form of `profile` (validated again: a profile built in code may not be)."""
        return cls.model_validate(
            {
                "language": profile.language,
                "locale": profile.locale,
                "hashtags": list(profile.hashtags),
                "footer": profile.footer,
                "default_image_url": profile.default_image_url,
                "utm": profile.utm,
                "require_approval": profile.require_approval,
                "update_policy": profile.update_policy,
                "timezone": profile.timezone,
                "facebook_video_as_reel": profile.facebook_video_as_reel,
                "instagram_hashtags_in_first_comment": (
                    profile.instagram_hashtags_in_first_comment
                ),
                "threads_topic_tag": profile.threads_topic_tag,
            }
        )


def profile_to_json(profile: TenantProfile) -> dict[str, object]:
    """`profile` as plain JSON data (what is stored and shown)."""
    return TenantProfileInput.from_profile(profile).model_dump(mode="json")


def profile_from_json(data: object) -> TenantProfile:
    """A profile from JSON data; raises pydantic's `ValidationError` naming the field."""
    return TenantProfileInput.model_validate(data).to_profile()
