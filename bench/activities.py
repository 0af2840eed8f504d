"""What a service spends its CPU on: py-spy's collapsed stacks sorted into activities.

A sample's activity is decided twice over:
- by the asyncio task it ran in (the stack's first frame past the event loop): a
  background loop counts as a whole, whatever it calls, to `loop: <its function>`;
- otherwise by its leaf-most frame that belongs to a known part: Postgres client, Kafka
  producing or consuming, the Graph (HTTP) client, the HTTP server, logging, the service's
  own handling, the event loop itself.

Without `--idle`, py-spy keeps mostly samples of threads on a CPU, so shares of samples
are shares of the process's CPU time. It cannot tell uvloop's own C code from its waits
(neither has a Python frame past the loop): those samples are left out, and the loop's
own work is spread over the activities in proportion.
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


# The interpreter's start-up, the service runner and the event loop: the frames between a
# process's root and the coroutine of the task (or the thread) that is running.
_ROOT_CHAIN = (
    "asyncio/",
    "uvloop/",
    "selectors.py",
    "<frozen runpy>",
    "threading.py",
    "__main__.py",
)
_RUNNER = ("jobcast/service.py",)
_RUNNER_FUNCTIONS = ("<module>", "main", "serve", "run_service")
# The services' background loops (`Service.background`, and the lag gauge run_service adds),
# by the function a loop's task starts in. Each counts as a whole, whatever it calls, to
# `loop: <name>`; every other task is classified by its leaves.
BACKGROUND_LOOPS = (
    "Dispatcher.run", "watch_pending", "VerificationLoop.run",  # distributor
    "relay_incoming", "prune_webhook_digests",  # ingest
    "StatusHub.run", "StatusGauges.run", "collect", "dispatch",  # metrics
    "timers",  # publishers
    "report_subscriber_lag",  # every service with a faststream consumer
)  # fmt: skip
_HTTP_SERVER = ("uvicorn/", "starlette/", "fastapi/", "h11/", "httptools/", "anyio/")
_PRODUCER = ("aiokafka/producer/", "jobcast/kafka/producer", "jobcast/kafka/produce")
# Blocking calls a sample may catch a thread in while py-spy still counts it as running.
_WAITS = (("threading.py", "Condition.wait"), ("queue.py", "Queue.get"), ("selectors.py", ""))
# Leaf-most match wins; order matters only for a frame two rules would both match. asyncio's
# own frames (streams, futures, timeouts) count to whoever called them; only a task with no
# other known frame is `event loop`.
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
)  # fmt: skip
# A stack with nothing past the event loop: uvloop's own C code, or a wait py-spy did not
# recognise as one (uvloop polls without a Python frame). It is left out of the shares.
LOOP_ONLY = "loop only"


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
    """The first frame past the event loop and the service runner: the coroutine its task
    was started with (or a thread's target); None when the loop itself was sampled."""
    start = _task_start(frames)
    return frames[start] if start is not None else None


def _task_start(frames: Sequence[Frame]) -> int | None:
    for n, frame in enumerate(frames):
        if frame.within(_ROOT_CHAIN) or frame.function == "<module>":
            continue
        if frame.within(_RUNNER) and frame.function in _RUNNER_FUNCTIONS:
            continue
        return n
    return None


def _leaf_activity(frames: Sequence[Frame]) -> str:
    for frame in reversed(frames):
        for activity, prefixes in _LEAF_RULES:
            if frame.within(prefixes):
                if activity != "kafka":
                    return activity
                producing = any(f.within(_PRODUCER) for f in frames)
                return "producing" if producing else "consuming"
    return "event loop" if any(f.within(("asyncio/", "uvloop/")) for f in frames) else "other"


def classify(frames: Sequence[Frame]) -> str:
    """The activity one sampled stack belongs to."""
    start = _task_start(frames)
    if start is None:
        return LOOP_ONLY
    root, leaf = frames[start], frames[-1]
    if any(leaf.within((file,)) and leaf.function.startswith(f) for file, f in _WAITS):
        return LOOP_ONLY
    name = root.function.rsplit("<locals>.", 1)[-1]
    if root.within(("services/", "jobcast/")) and name in BACKGROUND_LOOPS:
        return f"loop: {name}"
    # The runner's frames below the task are everyone's; only the task's own count.
    return _leaf_activity(frames[start:])


def activity_samples(stacks: Iterable[tuple[list[Frame], int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[classify(frames)] += count
    return counts


def activity_shares(collapsed: str) -> tuple[dict[str, float], int]:
    """Each activity's share of a process's sampled work (empty if nothing was sampled),
    and the number of samples those shares are of (the loop-only ones left out)."""
    counts = activity_samples(parse_collapsed(collapsed))
    counts.pop(LOOP_ONLY, None)
    total = sum(counts.values())
    return ({name: n / total for name, n in counts.most_common()} if total else {}), total
