"""Pure rules of the read model: which result may replace which."""

from __future__ import annotations

from schemas.publish import PublishStatus

# Later lifecycle stages outrank earlier ones, so an old result arriving late
# (redelivery, replay, out-of-order partitions) can never regress a post.
STATUS_RANK: dict[PublishStatus, int] = {
    PublishStatus.AWAITING_APPROVAL: 1,
    PublishStatus.SCHEDULED: 2,
    PublishStatus.HELD: 3,
    PublishStatus.RETRY_SCHEDULED: 10,
    PublishStatus.SKIPPED: 10,
    PublishStatus.FAILED: 10,
    PublishStatus.UNCONFIRMED: 10,
    PublishStatus.CANCELLED: 15,  # only ever before sending, so nothing later can follow
    PublishStatus.POSTED: 20,
    PublishStatus.EDITED: 30,
    PublishStatus.CANNOT_DELETE: 40,
    PublishStatus.DELETED: 40,
}
