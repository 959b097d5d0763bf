"""The README's demo: a few plain lines of its own, then the container's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_container_and_little_else() -> None:
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("demo: `runcgo spec` wrote ")
    assert lines[1] == "hello from runcgo, I am PID 1 as root"
    assert "/proc proc" in lines and p.stderr == ""
