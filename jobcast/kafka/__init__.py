"""Kafka for every service: topics, the one way records go out, the one way they come in.

- `admin`: topics (`ensure_topics`, `topic_partitions`);
- `produce`: every record written, one event through the broker (`publish_event`) or many
  in order (`OrderedProducer`; `EventBatches` gathers concurrent single events into its
  batches), with `partitioner`'s key placement;
- `handling`: what a consumer does with a record: validate against the contract, handle,
  and on failure `settle` (infrastructure: retried in place by `retry`'s one loop, then
  redelivered; anything else: isolated in `dead_letters`);
- `subscribe`: faststream subscribers through `handling`, a record or a poll at a time,
  their handled offsets committed once an interval (`commits`);
- `consumer`: `ConcurrentConsumer`, many lanes (`lanes`) at once, committing a
  watermark (`watermark`), through the same `handling`;
- `polling`: how long every consumer of ours waits on the broker (long once idle:
  `FetchPacing`) and between idle passes.
"""

from jobcast.kafka.admin import ensure_topics, topic_partitions
from jobcast.kafka.adoption import FormerGroup, adopt_offsets
from jobcast.kafka.consumer import (
    LAG,
    ConcurrentConsumer,
    holds_assignment,
    lane_turn,
    release_lane,
)
from jobcast.kafka.dead_letters import (
    HANDLER_FAILED,
    dead_letter,
    dead_letter_failed,
    dead_letters_for,
)
from jobcast.kafka.handling import by_topic, describe_validation_error, validating
from jobcast.kafka.lanes import LaneScheduler, lane_by_key
from jobcast.kafka.partitioner import CachedKeyPartitioner, murmur2
from jobcast.kafka.produce import (
    EventBatches,
    JsonEvent,
    OrderedProducer,
    OutgoingEvent,
    PendingSends,
    RenderedEvent,
    event_headers,
    make_broker,
    publish_event,
    publish_first_event,
    publish_record,
)
from jobcast.kafka.records import ConsumedRecord, RecordMeta
from jobcast.kafka.subscribe import (
    BatchRoute,
    record_route,
    subscribe_validated_batch,
)
from jobcast.kafka.watermark import OffsetWatermark

__all__ = [
    "HANDLER_FAILED",
    "LAG",
    "BatchRoute",
    "CachedKeyPartitioner",
    "ConcurrentConsumer",
    "ConsumedRecord",
    "EventBatches",
    "FormerGroup",
    "JsonEvent",
    "LaneScheduler",
    "OffsetWatermark",
    "OrderedProducer",
    "OutgoingEvent",
    "PendingSends",
    "RecordMeta",
    "RenderedEvent",
    "adopt_offsets",
    "by_topic",
    "dead_letter",
    "dead_letter_failed",
    "dead_letters_for",
    "describe_validation_error",
    "ensure_topics",
    "event_headers",
    "holds_assignment",
    "lane_by_key",
    "lane_turn",
    "make_broker",
    "murmur2",
    "publish_event",
    "publish_first_event",
    "publish_record",
    "record_route",
    "release_lane",
    "subscribe_validated_batch",
    "topic_partitions",
    "validating",
]
