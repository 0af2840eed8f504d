"""`make bench-instructions`: the publisher's CPU instructions per post, by callgrind.

The VM's speed swings by up to 1.6x between runs, so seconds cannot show a change of a
few percent; instructions can (repeatable to about ±3% here, batching varies). Runs
`bench.publish` twice with the publisher under callgrind and no Graph latency, with
`--small` and `--large` commands, and divides the difference in instructions by the
difference in posts, so start-up and shutdown cancel out. Needs valgrind; slow (~50x).
User-space instructions only: system calls are not counted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import report

_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(platform: str, lanes: int, commands: int) -> int:
    """Instructions the publisher executed over a `bench.publish` run of `commands`."""
    with tempfile.TemporaryDirectory(prefix="jobcast-callgrind-") as scratch:
        log = Path(scratch) / "callgrind.log"
        subprocess.run(
            [
                sys.executable, "-m", "bench.publish", "--platform", platform,
                "--lanes", str(lanes), "--latency-ms", "0", "--commands", str(commands),
                "--timeout", "3600", "--callgrind-log", str(log),
            ],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        found = _COLLECTED.search(log.read_text())
    if found is None:
        raise SystemExit(f"no callgrind summary for the {commands}-command run")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", default="instagram", choices=["facebook", "instagram"])
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    args = parser.parse_args()
    if args.large <= args.small:
        raise SystemExit("--large must be more commands than --small")
    small = instructions(args.platform, args.lanes, args.small)
    large = instructions(args.platform, args.lanes, args.large)
    per_post = (large - small) / (args.large - args.small)
    report(
        f"instructions-{args.platform}",
        [
            ("publisher instructions per post", f"{per_post / 1e6:.2f} M", "callgrind"),
            ("runs", f"{args.small} and {args.large} commands", f"{args.lanes} lane(s)"),
            ("total instructions", f"{small:,} / {large:,}", "start-up cancels out"),
        ],
        {
            "platform": args.platform, "lanes": args.lanes, "small": args.small,
            "large": args.large, "instructions_small": small, "instructions_large": large,
            "instructions_per_post": per_post,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
