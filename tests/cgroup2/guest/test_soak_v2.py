"""The soak tier's waves on pure cgroup v2 (issue 20): concurrent ``rt.run()`` under
one shared parent, existing beforehand or made by the creates, on asyncio and trio;
no failed create, nothing left.  Small waves: Python runs 8-50x slower in the guest
(the host's soak tier runs thousands; see tests/soak)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "soak"))

from waves import waves_under_parent

SLOTS = int(os.environ.get("RUNCGO_VM_SOAK_SLOTS", "16"))
WAVES = int(os.environ.get("RUNCGO_VM_SOAK_WAVES", "2"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("parent_before", ["existing", "absent"])
@pytest.mark.timeout(600)
async def test_waves_under_a_shared_parent_v2(tmp_path: Path, parent_before: str) -> None:
    waves, left = await waves_under_parent(str(tmp_path), f"scale-v2-{uuid.uuid4().hex[:6]}",
                                           parent_before, SLOTS, WAVES)
    failed = [f for w in waves for f in w.failures]
    assert failed == [], f"{len(failed)} of {SLOTS * WAVES} failed: {failed[:3]}"
    assert left == [], left[:5]
