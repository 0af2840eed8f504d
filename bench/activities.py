"""What a service spends its CPU on: py-spy's collapsed stacks sorted into activities.

A sample's activity is decided twice over:
- by the asyncio task it ran in (the stack's first frame past the event loop): a task
  started by the service's own code that is not a consumer or an HTTP request is a
  background loop, and everything it does counts as `loop: <its function>`;
- otherwise by its leaf-most frame that belongs to a known part: Postgres client, Kafka
  producing or consuming, the Graph (HTTP) client, the HTTP server, logging, the service's
  own handling, the event loop itself.

Without `--idle`, py-spy keeps only samples of threads on a CPU, so shares of samples are
shares of the process's CPU time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    def within(self, prefixes: Sequence[str]) -> bool:
        return any(self.file.startswith(p) or f"/{p}" in self.file for p in prefixes)


# The event loop and interpreter start-up, between the process's root and a task's frames.
_LOOP_MACHINERY = ("asyncio/", "uvloop/", "selectors.py", "runpy.py", "threading.py")
# Tasks whose frames are the pipeline's main work, classified by their leaves.
_CONSUMER_TASKS = ("jobcast/kafka/", "aiokafka/", "faststream/")
_HTTP_SERVER = ("uvicorn/", "starlette/", "fastapi/", "h11/", "httptools/", "anyio/")
_PRODUCER = ("aiokafka/producer/", "jobcast/kafka/producer", "jobcast/kafka/produce")
# Leaf-most match wins; order matters only for a frame two rules would both match.
_LEAF_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/", "jobcast/logs.py", "pythonjsonlogger/", "structlog/")),
    ("gc", ("gc.py",)),
    ("postgres client", ("asyncpg/",)),
    ("kafka", ("aiokafka/", "jobcast/kafka/", "faststream/", "kafka/")),
    ("graph client (http)", ("httpx/", "httpcore/", "aiohttp/", "jobcast/http_transport/",
                             "jobcast/graph/", "h2/")),
    ("http server", _HTTP_SERVER),
    ("metrics export", ("prometheus_client/",)),
    ("handling", ("services/", "jobcast/", "schemas/")),
    ("event loop", _LOOP_MACHINERY),
)  # fmt: skip


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text)
    if match is None:
        return Frame(text, "")
    return Frame(match["function"], match["file"])


def parse_collapsed(text: str) -> list[tuple[list[Frame], int]]:
    """py-spy's `--format raw` output: `frame;frame;... count` per line, root first."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([parse_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def task_root(frames: Sequence[Frame]) -> Frame | None:
    """The first frame past the event loop: the coroutine its task was started with."""
    for n, frame in enumerate(frames):
        if frame.within(("asyncio/events.py", "asyncio/tasks.py")) and frame.function in (
            "Handle._run",
            "Task.__step",
            "Task.__step_run_and_handle_result",
        ):
            rest = [f for f in frames[n + 1 :] if not f.within(_LOOP_MACHINERY)]
            return rest[0] if rest else None
    return None


def _leaf_activity(frames: Sequence[Frame]) -> str:
    for frame in reversed(frames):
        for activity, prefixes in _LEAF_RULES:
            if frame.within(prefixes):
                if activity != "kafka":
                    return activity
                producing = any(f.within(_PRODUCER) for f in frames)
                return "producing" if producing else "consuming"
    return "other"


def classify(frames: Sequence[Frame]) -> str:
    """The activity one sampled stack belongs to."""
    root = task_root(frames)
    if (
        root is not None
        and root.within(("services/", "jobcast/"))
        and not root.within(_CONSUMER_TASKS)
        and root.function != "run_service"
    ):
        return f"loop: {root.function}"
    return _leaf_activity(frames)


def activity_samples(stacks: Iterable[tuple[list[Frame], int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[classify(frames)] += count
    return counts


def activity_shares(collapsed: str) -> dict[str, float]:
    """Each activity's share of a process's sampled CPU (empty if nothing was sampled)."""
    counts = activity_samples(parse_collapsed(collapsed))
    total = sum(counts.values())
    return {name: n / total for name, n in counts.most_common()} if total else {}
