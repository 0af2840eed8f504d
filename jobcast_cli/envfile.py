"""Reading and writing `.jobcast/env`: the endpoints `make up` started, as shell lines."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

STATE_DIR = Path(".jobcast")
ENV_FILE = STATE_DIR / "env"


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """Parse `export KEY=value` / `KEY=value` lines (values shell-quoted)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw)
        values[key.strip()] = parts[0] if parts else ""
    return values


def write_env_file(values: dict[str, str], path: Path = ENV_FILE) -> None:
    """Write shell-sourceable `export` lines (the file may hold a secret key: mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def load_env_defaults(path: Path = ENV_FILE) -> None:
    """Let the CLI find a running local stack without the user sourcing the file.

    Variables already set in the environment win.
    """
    for key, value in read_env_file(path).items():
        os.environ.setdefault(key, value)
