"""What validating one job event against the contract costs: `python -m bench.contract`.

Every service on the job path validates each event it reads (ingest from HTTP and
`jobs.incoming`, the distributor from `jobs.events`), so the contract's checks are on the hot
path. Timed in process with timeit (best of `--repeat` rounds of `--number` calls); compare
changes by running two checkouts in alternation (`PYTHONPATH=<other checkout>`), since this
machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import timeit
import uuid
from typing import Any

from pydantic import TypeAdapter

from bench.common import report
from schemas.jobs import JobEvent

TYPICAL: dict[str, Any] = {
    "event_type": "job.created",
    "event_id": str(uuid.UUID(int=1)),
    "tenant_id": str(uuid.UUID(int=2)),
    "occurred_at": "2026-12-03T05:00:00Z",
    "payload": {
        "job_id": "job-42",
        "revision": 3,
        "title": "Line cook — nights 🍳",
        "company": "Warung Laut",
        "location": "Canggu, Bali",
        "description": "Cook for our beach kitchen. " * 20,
        "employment_type": "daily",
        "apply_url": "https://jobs.example.com/42",
        "image_url": "https://jobs.example.com/42.jpg",
        "tags": ["cook", "bali", "kitchen", "daily"],
        "pay": {"min_amount": "150000", "currency": "IDR", "period": "day"},
        "platform_settings": {"instagram": {"extra_hashtags": ["balijobs", "chef"]}},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    adapter: TypeAdapter[Any] = TypeAdapter(JobEvent)
    raw = json.dumps(TYPICAL).encode()
    rounds = timeit.repeat(
        lambda: adapter.validate_json(raw), number=args.number, repeat=args.repeat
    )
    per_call = [r / args.number * 1e6 for r in rounds]
    report(
        "contract",
        [("job event validate_json (best)", f"{min(per_call):.2f} µs", "")],
        {"validate_json_us": per_call, "event_bytes": len(raw)},
    )


if __name__ == "__main__":
    main()
