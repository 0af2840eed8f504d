"""Extreme events come from the contract's schema, reach its edges, and repeat per seed
(tests/suites/extreme.py)."""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import UUID

from schemas import bounds
from tests.suites.extreme import (
    Campaign,
    Kind,
    Route,
    Walker,
    cases_in,
    draw,
    encode,
    generate,
    job_event_schema,
    tag_of,
)

TENANT = UUID("00000000-0000-4000-8000-000000000001")


def created_payloads(schema: dict[str, Any], count: int, seed: int = 3) -> list[dict[str, Any]]:
    walker = Walker(schema)
    events = draw(walker.strategy(walker.defs["JobCreated"]), count, seed)
    return [e["payload"] for e in events]


def test_texts_lists_and_numbers_reach_the_limits_the_schema_states() -> None:
    schema = job_event_schema()
    posting = schema["$defs"]["JobPosting"]["properties"]
    payloads = created_payloads(schema, 80)
    # Drawn from each node alone: which examples hypothesis explores in a whole event
    # depends on the rest of the contract and on the modules loaded before (its constant
    # pool), and `tags` is optional there.
    walker = Walker(schema)
    titles = [len(t) for t in draw(walker.strategy(posting["title"]), 100, seed=3)]
    assert max(titles) == posting["title"]["maxLength"]
    assert min(titles) == posting["title"]["minLength"]
    tag_lists = draw(walker.strategy(posting["tags"]), 100, seed=3)
    assert max(len(t) for t in tag_lists if isinstance(t, list)) == posting["tags"]["maxItems"]
    # No maximum stated for the revision: values past Postgres' integer and bigint.
    revisions = [p["revision"] for p in payloads if "revision" in p]
    assert any(r > bounds.MAX_INT for r in revisions)
    assert all(r >= posting["revision"]["minimum"] for r in revisions)


def test_a_field_added_to_the_contract_is_generated_without_a_change_here() -> None:
    schema = copy.deepcopy(job_event_schema())
    posting = schema["$defs"]["JobPosting"]
    posting["properties"]["shift_note"] = {"type": "string", "maxLength": 7}
    posting["required"].append("shift_note")
    notes = [p["shift_note"] for p in created_payloads(schema, 40)]
    assert all(len(n) <= 7 for n in notes)
    assert 7 in {len(n) for n in notes}


def test_the_largest_events_are_the_schemas_maximum_or_either_side_of_the_size_bound() -> None:
    events = generate(Campaign(events=200, seed=5, run="abcdef", tenant_id=TENANT))
    sizes = sorted(len(e.body) for e in events if e.kind is Kind.LARGEST)
    walker = Walker(job_event_schema())
    created = walker.defs["JobCreated"]
    if walker.largest(0, "a", created) == walker.largest(1, "a", created):
        # Every text bounded: nothing larger is valid; the largest is the schema's maximum.
        assert len(set(sizes)) > 1
        assert min(sizes) >= len(encode(walker.largest(0, "a", created), ascii_only=False)) - 300
        return
    assert any(bounds.MAX_EVENT_BYTES - 2_000 < s <= bounds.MAX_EVENT_BYTES for s in sizes)
    assert any(bounds.MAX_EVENT_BYTES < s < bounds.MAX_EVENT_BYTES + 2_000 for s in sizes)


def test_a_campaign_is_the_same_for_the_same_seed_and_mixes_kinds_and_routes() -> None:
    first = generate(Campaign(events=120, seed=11, run="abcdef", tenant_id=TENANT))
    again = generate(Campaign(events=120, seed=11, run="abcdef", tenant_id=TENANT))
    assert [(e.body, e.headers, e.route) for e in first] == [
        (e.body, e.headers, e.route) for e in again
    ]
    assert {e.kind for e in first} == set(Kind)
    assert {e.route for e in first} == set(Route)
    assert any(e.valid for e in first)
    # Odd Kafka headers only where there is Kafka; every raw record names its case.
    for event in first:
        names = [k for k, _ in event.headers]
        assert bool(names) == (event.route is Route.INCOMING)
        if names:
            assert ("x-fuzz-case", str(event.case).encode()) in event.headers


def test_every_sent_body_names_its_case_where_a_dead_letter_would_keep_it() -> None:
    events = generate(Campaign(events=60, seed=2, run="abcdef", tenant_id=TENANT))
    for event in events:
        if event.kind is Kind.EXTREME:
            assert cases_in(event.body[:4096], "abcdef") == {event.case}, event.describe()
    assert cases_in(tag_of("abcdef", 42).encode(), "abcdef") == {42}
    assert cases_in(tag_of("abcdef", 42).encode(), "fedcba") == set()


def test_lone_surrogates_travel_as_escapes_or_as_invalid_utf8() -> None:
    event = {"title": "a\ud800b"}
    assert json.loads(encode(event, ascii_only=True)) == event
    raw = encode(event, ascii_only=False)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("a lone surrogate must not encode as valid UTF-8")
