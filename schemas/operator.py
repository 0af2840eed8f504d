"""Operator commands (topic `operator.commands`, keyed by tenant id).

Issued through ingest's operator endpoints or the `jobcast` CLI; the service that owns
the affected state acts on them: the distributor for cancel, approve, reject, pause and
resume; the publisher of the post's platform for retry. Every command names its actor,
and ingest keeps the audit trail of who issued what.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from schemas.bounds import Text
from schemas.envelope import ContractModel, Envelope
from schemas.jobs import JobId
from schemas.platforms import Platform
from schemas.publish import PostKey

Reason = Annotated[Text, Field(max_length=500)]


class OperatorAction(StrEnum):
    RETRY = "retry"  # a failed post: its publisher tries again (a new attempt series)
    CANCEL = "cancel"  # a post not yet sent to its publisher: it never will be
    APPROVE = "approve"  # a post awaiting approval: released to its schedule
    REJECT = "reject"  # a post awaiting approval: dropped for good
    PAUSE = "pause"  # hold the tenant's (or one platform's) due posts
    RESUME = "resume"  # release held posts in due order


_TARGETS_POST = {OperatorAction.RETRY}
_TARGETS_POST_OR_JOB = {OperatorAction.CANCEL, OperatorAction.APPROVE, OperatorAction.REJECT}


class OperatorCommand(ContractModel):
    """One operator decision; `actor` says who made it (an API key id or a CLI user)."""

    action: OperatorAction
    actor: Annotated[Text, Field(min_length=1, max_length=200)]
    post_key: PostKey | None = None
    job_id: JobId | None = None
    platform: Platform | None = Field(
        default=None, description="pause/resume: one platform; absent means the whole tenant"
    )
    reason: Reason = ""

    @model_validator(mode="after")
    def _target_fits_action(self) -> Self:
        if self.action in _TARGETS_POST and self.post_key is None:
            raise ValueError(f"{self.action.value} needs post_key")
        if self.action in _TARGETS_POST_OR_JOB and (self.post_key is None) == (self.job_id is None):
            raise ValueError(f"{self.action.value} needs exactly one of post_key or job_id")
        if self.action in (OperatorAction.PAUSE, OperatorAction.RESUME) and (
            self.post_key is not None or self.job_id is not None
        ):
            raise ValueError(f"{self.action.value} takes a platform or nothing, not a post or job")
        return self


class OperatorCommandIssued(Envelope):
    event_type: Literal["operator.command"] = "operator.command"
    payload: OperatorCommand
