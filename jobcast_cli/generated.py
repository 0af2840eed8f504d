"""Checked-in files generated from the code: write them, or check that they are current."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def write_or_check(path: Path, text: str, argv: Sequence[str] = sys.argv[1:]) -> int:
    """With `--check` in `argv`: 1 (and a line on stderr) when `path` does not hold `text`;
    otherwise write it. The exit status for a generator's `main`."""
    if "--check" in argv:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"stale: {path} (run `make docs`)", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
