"""Printing a suite's one-line verdict where a `make test` reader sees it."""

from __future__ import annotations

import pytest


def show(config: pytest.Config, line: str) -> None:
    """Print `line` past pytest's output capture (it lands among the progress dots)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")
