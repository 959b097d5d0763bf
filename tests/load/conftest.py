"""The load tier: many lifecycles at once through the CLI and the async API,
then no leaks and a consistent state root.  Needs root.

RUNCGO_LOAD_CYCLES (CLI cycles over 8 workers, default 160) and
RUNCGO_LOAD_API (containers in flight through the API, default 200) size it.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "api"))

from harness import IS_ROOT

REPORT: list[str] = []


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if not IS_ROOT:
        pytest.skip("the load tier runs real containers and needs root")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in REPORT:
        terminalreporter.write_line(line)
