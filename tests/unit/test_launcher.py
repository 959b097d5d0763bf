"""`python -m runcgo.launcher [--via WHO] PATH` writes a -I -S launcher that runs this tree's
runcgo (the pip-install path is tests/install)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_writes_a_working_launcher(tmp_path: Path) -> None:
    target = tmp_path / "runcgo"
    target.write_text("old\n")
    target.chmod(0o750)
    p = subprocess.run([sys.executable, "-m", "runcgo.launcher", "--via", "a\ntest", str(target)],
                       capture_output=True, text=True, env=_env(), check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{target}\n"
    lines = target.read_text().splitlines()
    assert lines[0] == f"#!{os.path.realpath(sys.executable)} -IS"
    assert "# Written by: a test" in lines
    assert f"sys.path[:0] = [{str(ROOT)!r}" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o750
    assert [f.name for f in tmp_path.iterdir()] == ["runcgo"]  # no temp file left
    p = subprocess.run([str(target), "--version"], capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.startswith("runcgo version "), p.stderr


def test_bad_arguments_and_unwritable_target(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "runcgo.launcher", "-x"], capture_output=True,
                       text=True, env=_env(), check=False)
    assert p.returncode == 2 and p.stderr.startswith("usage: python -m runcgo.launcher")
    missing = tmp_path / "no" / "dir" / "runcgo"
    p = subprocess.run([sys.executable, "-m", "runcgo.launcher", str(missing)],
                       capture_output=True, text=True, env=_env(), check=False)
    assert p.returncode == 1
    assert p.stderr.startswith(f"runcgo.launcher: write {missing}: ") and "Traceback" not in p.stderr
