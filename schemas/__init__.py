"""The jobcast event contract: every record on every topic is one of these models.

The JSON Schema files under `schemas/json/` are generated from these models
(`python -m schemas.export`) and checked in; a test fails when they disagree.
"""

from schemas.connections import ConnectionStatus, ConnectionStatusChange, ConnectionStatusChanged
from schemas.envelope import SCHEMA_VERSION, Envelope, utcnow
from schemas.jobs import (
    EmploymentType,
    JobClosed,
    JobClosure,
    JobCreated,
    JobEvent,
    JobPosting,
    JobUpdated,
    Pay,
    PayPeriod,
    PlatformSettings,
)
from schemas.media import JobMedia, MediaKind, PostedMedia, PostFormat
from schemas.platforms import Platform
from schemas.publish import (
    ErrorClass,
    FirstComment,
    FirstCommentStatus,
    MediaItem,
    PostContent,
    PublishAction,
    PublishCommand,
    PublishCompleted,
    PublishError,
    PublishRequested,
    PublishResult,
    PublishStatus,
    make_post_key,
)

__all__ = [
    "SCHEMA_VERSION",
    "ConnectionStatus",
    "ConnectionStatusChange",
    "ConnectionStatusChanged",
    "EmploymentType",
    "Envelope",
    "ErrorClass",
    "FirstComment",
    "FirstCommentStatus",
    "JobClosed",
    "JobClosure",
    "JobCreated",
    "JobEvent",
    "JobMedia",
    "JobPosting",
    "JobUpdated",
    "MediaItem",
    "MediaKind",
    "Pay",
    "PayPeriod",
    "Platform",
    "PlatformSettings",
    "PostContent",
    "PostFormat",
    "PostedMedia",
    "PublishAction",
    "PublishCommand",
    "PublishCompleted",
    "PublishError",
    "PublishRequested",
    "PublishResult",
    "PublishStatus",
    "make_post_key",
    "utcnow",
]
