"""Fixtures for the async API tests: both anyio backends, a private state root,
bundles that share one busybox rootfs, and a check that nothing is left behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apihelpers import Env

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from harness import IS_ROOT


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    if not IS_ROOT:
        pytest.skip("API tests run real containers and need root")
    e = Env(tmp_path)
    yield e
    for cid in e.ids:
        if os.path.exists(os.path.join(e.root, cid)):
            e.cli("delete", "--force", cid)
    left = [x for cid in e.ids for x in e.leftovers(cid)]
    assert not left, f"left behind: {left}"


