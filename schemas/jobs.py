"""Job events: what upstream hiring systems tell jobcast (topic `jobs.events`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    HttpUrl,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from schemas.bounds import (
    MAX_BIGINT,
    WINDOW_SCHEMA,
    Text,
    check_instant,
    check_url_length,
    check_wall_time,
)
from schemas.envelope import ContractModel, Envelope
from schemas.media import MAX_MEDIA, MAX_POST_MEDIA, MediaList, PlatformMediaList
from schemas.platforms import Platform

Tag = Annotated[Text, Field(min_length=1, max_length=50)]
Hashtag = Annotated[Text, Field(min_length=1, max_length=100)]
JobId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]

# The platforms' limits on a comment's text: Instagram 2,200 characters, a Facebook comment
# 8,000, a Threads reply 500, a LinkedIn comment 1,250. A platform missing here takes none.
FIRST_COMMENT_LIMIT = {
    Platform.FACEBOOK: 8_000,
    Platform.INSTAGRAM: 2_200,
    Platform.THREADS: 500,
    Platform.LINKEDIN: 1_250,
}
# Items one post may hold where a platform takes more than a job's `MAX_MEDIA`: a Threads
# carousel holds up to 20.
MEDIA_LIMIT = {Platform.THREADS: MAX_POST_MEDIA}


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    DAILY = "daily"
    CASUAL = "casual"
    CONTRACT = "contract"
    TEMPORARY = "temporary"
    INTERNSHIP = "internship"


class PayPeriod(StrEnum):
    HOUR = "hour"
    SHIFT = "shift"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Pay(ContractModel):
    """What the job pays; amounts are decimals in the currency's major unit."""

    min_amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    max_amount: Annotated[Decimal | None, Field(ge=0, max_digits=14, decimal_places=2)] = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
    period: PayPeriod

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.max_amount is not None and self.max_amount < self.min_amount:
            raise ValueError("max_amount must not be below min_amount")
        return self


class PlatformSettings(ContractModel):
    """Per-job overrides for one platform."""

    enabled: bool = True
    caption: Annotated[Text | None, Field(max_length=10_000)] = None
    extra_hashtags: Annotated[list[Hashtag], Field(max_length=30)] = []
    media: PlatformMediaList | None = Field(
        default=None,
        description="This platform's media instead of the job's (`[]`: none). At most 10"
        " items, 20 on Threads.",
    )
    first_comment: Annotated[
        Text | None,
        Field(
            min_length=1,
            max_length=max(FIRST_COMMENT_LIMIT.values()),
            description="Posted as the first comment once the post is live"
            " (Instagram: at most 2,200 characters; Threads: a reply of at most 500).",
        ),
    ] = None


class JobPosting(ContractModel):
    """A job as upstream describes it, at one revision."""

    job_id: JobId
    revision: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_BIGINT,
            description="Upstream's version counter (any counter up to 2^63-1, e.g. epoch ms)",
        ),
    ] = 1
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    description: Annotated[Text, Field(max_length=10_000)] = ""
    company: Annotated[Text, Field(min_length=1, max_length=200)]
    location: Annotated[Text, Field(min_length=1, max_length=200)]
    pay: Pay | None = None
    employment_type: EmploymentType
    apply_url: Annotated[HttpUrl, AfterValidator(check_url_length)]
    image_url: Annotated[HttpUrl | None, AfterValidator(check_url_length)] = Field(
        default=None, description="Shorthand for one image; not together with `media`."
    )
    media: MediaList = Field(
        default=[], description="Photos and videos, in order (Instagram: a carousel of 2-10)."
    )
    tags: Annotated[list[Tag], Field(max_length=30)] = []
    publish_at: datetime | None = Field(
        default=None,
        description=(
            "When to publish. Local wall time in `timezone` if naive; an instant if aware."
            " Between 2000-01-01 and 2100-01-01."
        ),
        json_schema_extra=WINDOW_SCHEMA,
    )
    timezone: Annotated[str | None, Field(max_length=64)] = Field(
        default=None, description="IANA time zone, e.g. Asia/Makassar"
    )
    platform_settings: dict[Platform, PlatformSettings] = {}

    @field_validator("platform_settings")
    @classmethod
    def _fits_platform(
        cls, value: dict[Platform, PlatformSettings]
    ) -> dict[Platform, PlatformSettings]:
        for platform, settings in value.items():
            comment = settings.first_comment
            limit = FIRST_COMMENT_LIMIT.get(platform)
            if comment is not None and limit is None:
                raise ValueError(f"{platform.value}.first_comment: {platform.value} takes none")
            if comment is not None and limit is not None and len(comment) > limit:
                raise ValueError(
                    f"{platform.value}.first_comment: at most {limit:,} characters"
                    f" ({len(comment):,} given)"
                )
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _platform_media_fits(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # Checked here, not on `PlatformSettings`, because the limit depends on the dict's
        # key; the error still names `platform_settings.<platform>.media`, as for a job's.
        job = handler(data)
        too_long = [
            InitErrorDetails(
                type="too_long",
                loc=("platform_settings", platform.value, "media"),
                input=settings.media,
                ctx={"field_type": "List", "max_length": most, "actual_length": given},
            )
            for platform, settings in job.platform_settings.items()
            if settings.media is not None
            and (given := len(settings.media)) > (most := MEDIA_LIMIT.get(platform, MAX_MEDIA))
        ]
        if too_long:
            raise ValidationError.from_exception_data(cls.__name__, too_long)
        return job

    @field_validator("publish_at")
    @classmethod
    def _publish_at_in_window(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return check_wall_time(value)
        check_instant(value)
        return value  # kept as written: the offset is what upstream meant

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _naive_time_needs_zone(self) -> Self:
        if self.publish_at is not None and self.publish_at.tzinfo is None and not self.timezone:
            raise ValueError("publish_at without an offset needs `timezone`")
        return self

    @model_validator(mode="after")
    def _one_way_to_give_media(self) -> Self:
        if self.image_url is not None and self.media:
            raise ValueError("give `media` or its shorthand `image_url`, not both")
        return self


class JobClosure(ContractModel):
    """A job that must come down: closed by the employer or filled."""

    job_id: JobId
    reason: Annotated[Text, Field(max_length=500)] = ""


class JobCreated(Envelope):
    event_type: Literal["job.created"] = "job.created"
    payload: JobPosting


class JobUpdated(Envelope):
    event_type: Literal["job.updated"] = "job.updated"
    payload: JobPosting


class JobClosed(Envelope):
    event_type: Literal["job.closed", "job.filled"] = "job.closed"
    payload: JobClosure


JobEvent = Annotated[JobCreated | JobUpdated | JobClosed, Field(discriminator="event_type")]
"""Any record on `jobs.events`."""
