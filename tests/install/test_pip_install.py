"""`pip install .`, `pip install -e .` and `pipx install` give a `runcgo` that starts like
the bootstrap's launcher (issue 15): after its first run the installed script is a
`#!<real python> -IS` launcher with the install's paths, it runs a real container, and a
container's whole `run` imports neither `site` nor `re`.

Each case installs a copy of this checkout into a fresh venv (build requirements and
dependencies come from the package index, as in CI).  Root: the container is real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bundles import make_bundle

ROOT = Path(__file__).resolve().parents[2]
PY = "/usr/bin/python3"  # the machine's interpreter (bootstrap.sh's), not this venv's

pytestmark = [pytest.mark.slow, pytest.mark.root]


def _run(cmd: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONWARNINGS"] = "ignore"  # setuptools' notices in pip's output
    env.update(env_extra or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL, check=False)


def _source_copy(dest: Path) -> Path:
    """The checkout's tracked files (a build writes build/ and *.egg-info into its source)."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        src = ROOT / name
        if name and src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _install(kind: str, tmp: Path, src: Path) -> tuple[Path, Path]:
    """Install; return (the script a user calls, the interpreter of the install's venv)."""
    if kind == "pipx":
        tools = tmp / "tools"
        p = _run([PY, "-m", "venv", str(tools)])
        assert p.returncode == 0, p.stderr
        p = _run([str(tools / "bin" / "pip"), "install", "-q", "pipx"])
        assert p.returncode == 0, p.stderr
        home, bindir = tmp / "pipx-home", tmp / "pipx-bin"
        p = _run([str(tools / "bin" / "pipx"), "install", "--python", PY, str(src)],
                 env_extra={"PIPX_HOME": str(home), "PIPX_BIN_DIR": str(bindir)})
        assert p.returncode == 0, p.stdout + p.stderr
        return bindir / "runcgo", home / "venvs" / "runcgo" / "bin" / "python"
    venv = tmp / "venv"
    p = _run([PY, "-m", "venv", str(venv)])
    assert p.returncode == 0, p.stderr
    args = ["-e", str(src)] if kind == "editable" else [str(src)]
    p = _run([str(venv / "bin" / "pip"), "install", "-q", *args])
    assert p.returncode == 0, p.stderr
    return venv / "bin" / "runcgo", venv / "bin" / "python"


@pytest.mark.parametrize("kind", ["regular", "editable", "pipx"])
def test_installed_script_becomes_a_fast_launcher(kind: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("runs a real container: needs root")
    src = _source_copy(tmp_path / "src")
    script, venv_python = _install(kind, tmp_path, src)
    real_script = Path(os.path.realpath(script))
    assert b"# runcgo: generic console script" in real_script.read_bytes()

    # The first run answers as usual and puts the launcher in place.
    p = _run([str(script), "--version"])
    assert p.returncode == 0 and p.stdout.startswith("runcgo version "), p.stderr
    text = real_script.read_text()
    interp = os.path.realpath(venv_python)
    assert text.startswith(f"#!{interp} -IS\n# Written by runcgo.launcher"), text
    assert "# Written by: the first run of the script pip installed\n" in text
    assert os.access(real_script, os.X_OK)
    expected_first = str(src) if kind == "editable" else None
    paths_line = next(line for line in text.splitlines() if line.startswith("sys.path[:0]"))
    if expected_first:
        assert paths_line.startswith(f"sys.path[:0] = [{expected_first!r}"), paths_line
    else:
        assert "site-packages" in paths_line and str(src) not in paths_line, paths_line

    # A real container through the launcher, as Docker would call it.
    bundle = make_bundle(str(tmp_path / "bundle"),
                         ["sh", "-c", "echo pid $$ uid $(id -u); grep -c . /proc/self/mountinfo"])
    state = tmp_path / "state"
    p = _run([str(script), "--root", str(state), "run", "-b", bundle, f"perf-pip-{kind}"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "pid 1 uid 0", p.stdout
    assert list(state.iterdir()) == []

    # What that run imports, with the launcher's own interpreter and flags (as the
    # kernel starts it) plus -X importtime: runcgo's CLI, and neither site nor re.
    p = _run([interp, "-IS", "-X", "importtime", str(real_script), "--root", str(state),
              "run", "-b", bundle, f"perf-pip-{kind}-2"])
    assert p.returncode == 0, p.stderr
    mods = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}
    assert {"runcgo.cli", "runcgo.ops.create"} <= mods, sorted(mods)
    assert not mods & {"site", "re", "sitecustomize", "typing"}, sorted(mods & {"site", "re"})
    assert list(state.iterdir()) == []

    # A second run keeps the launcher as it is.
    before = real_script.read_bytes()
    assert _run([str(script), "--version"]).returncode == 0
    assert real_script.read_bytes() == before
