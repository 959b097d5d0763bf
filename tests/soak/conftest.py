"""The soak tier: thousands of containers in waves through the async API, on
asyncio and trio, under one shared parent cgroup; fails on any failed create
and on any leak.  Needs root.  Sized by RUNCGO_SOAK_WAVES (waves of 100 per
case, default 10) and RUNCGO_SOAK_BURST (one burst, default 500)."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

REPORT: list[str] = []


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the soak tier runs real containers and needs root")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in REPORT:
        terminalreporter.write_line(line)
