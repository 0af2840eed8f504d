"""Which commands a publisher may run side by side.

A lane runs its records' publishing calls one at a time, in offset order (the posts
behind may be claimed and prepared meanwhile: `PUBLISH_PREPARE_AHEAD`). One lane per
account (the default) keeps an account's posts strictly in order, but caps an account at
one publishing call at a time. With `ways` lanes per account a job
always lands in the same one, so a job's own commands (publish, then edit, then delete)
still run in order, while different jobs of one account run up to `ways` at once and may
overtake each other. Exactly-once does not rest on this (an edit or delete whose original
is still under way waits for it); only speed and the order of an account's posts do.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from jobcast.kafka import ConsumedRecord, lane_by_key

# The command's job id as serialised (the first "job_id" key: the payload's, since the
# envelope has none). Inside a JSON string a quote is escaped, so text cannot fake it.
_JOB_ID = re.compile(rb'"job_id":\s*"((?:[^"\\]|\\.)*)"')


def job_lanes(ways: int, commands_topic: str) -> Callable[[ConsumedRecord], str]:
    """lane_of for a ConcurrentConsumer: a command's account lane split `ways` ways by job.
    Records of the consumer's other topics (operator commands) keep lanes by their key,
    apart from every account's."""
    if ways < 1:
        raise ValueError("an account needs at least one lane")

    def lane_of(record: ConsumedRecord) -> str:
        if record.topic != commands_topic:
            return f"{record.topic}/{lane_by_key(record)}"
        account = lane_by_key(record)
        if ways == 1:
            return account
        found = _JOB_ID.search(record.value)
        # No job id (a malformed record, bound for the dead-letter topic): lane 0.
        share = zlib.crc32(found.group(1)) % ways if found else 0
        return f"{account}/{share}"

    return lane_of
