"""docs/api.md stays true: every documented name imports, every signature it shows
is the code's, and every example runs against real containers (asyncio and trio)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runcgo

from apihelpers import Env
from harness import TEST_CG_PREFIX, runcgo_cmd

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()

# example name -> (container IDs it uses, what its output must contain)
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "asyncio-run": (["hello"], ["hello from runcgo", "exit status 0"]),
    "asyncio-many": ([f"job-{i}" for i in range(8)], ["job-0 got ping 3", "[0, 0, 0, 0, 0, 0, 0, 0]"]),
    "asyncio-events": (["watched"], ["exit 137"]),
    "trio-nursery": ([f"trio-{i}" for i in range(4)], ["trio-3 hello from runcgo", "trio-0 exited 0"]),
    "trio-cancel": (["forever"], ["cancelled: True", "[]"]),
    "asyncio-attach": (["from-cli"], ["None"]),
}


def examples() -> dict[str, str]:
    blocks = re.findall(r"```python\n(# example: ([\w-]+)\n.*?)```", DOC, re.S)
    return {name: code for code, name in blocks}


def test_every_example_is_run_here() -> None:
    assert set(examples()) == set(EXAMPLES)
    assert "import trio" in examples()["trio-nursery"] and "asyncio.TaskGroup" in examples()["asyncio-many"]


def test_documented_names_import() -> None:
    names = re.findall(r"`runcgo\.(\w+)`", DOC.split("### Names", 1)[1])
    assert len(names) >= 14
    for name in names:
        assert getattr(runcgo, name) is not None


def _resolve(dotted: str) -> Any:
    obj: Any = runcgo
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_signatures_match_the_code() -> None:
    shown = re.findall(r"^#### `([\w.]+)\((.*)\)`$", DOC, re.M)
    assert len(shown) >= 20
    for dotted, params in shown:
        obj = _resolve(dotted)
        sig = inspect.signature(obj)
        real = [p for p in sig.parameters.values() if p.name != "self"]
        doc_params = [p.strip() for p in params.split(",") if p.strip()]
        kw_only = False
        documented = []
        for text in doc_params:
            if text == "*":
                kw_only = True
                continue
            name, eq, default = text.partition("=")
            documented.append((name, kw_only, default if eq else None))
        assert [d[0] for d in documented] == [p.name for p in real], dotted
        for (name, kw, default), p in zip(documented, real, strict=True):
            assert kw == (p.kind is inspect.Parameter.KEYWORD_ONLY), f"{dotted}: {name}"
            if default is None:
                assert p.default is inspect.Parameter.empty, f"{dotted}: {name} has a default"
            elif default != "...":
                assert eval(default, {"signal": signal}) == p.default, f"{dotted}: {name}"


def _prepare(name: str, tmp_path: Path) -> tuple[Env, str, Path]:
    """A root and one bundle per ID the example uses; the example's code with its
    ROOT/BUNDLES pointing there; a bin dir whose `runcgo` is this test run's CLI."""
    env = Env(tmp_path)
    bundles = tmp_path / "bundles"
    for cid in EXAMPLES[name][0]:
        _, path = env.bundle(["sh", "-c", "echo hello from $(hostname); sleep 2"])
        cfg = json.loads((Path(path) / "config.json").read_text())
        cfg["linux"]["cgroupsPath"] = f"/{TEST_CG_PREFIX}{cid}"
        (bundles / cid).mkdir(parents=True)
        (bundles / cid / "config.json").write_text(json.dumps(cfg))
    code = examples()[name]
    code = re.sub(r'^ROOT = .*$', f"ROOT = {env.root!r}", code, flags=re.M)
    code = re.sub(r'^BUNDLES = .*$', f"BUNDLES = {str(bundles)!r}", code, flags=re.M)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "runcgo").write_text(f"#!/bin/sh\nexec {shlex.join(runcgo_cmd())} \"$@\"\n")
    (bindir / "runcgo").chmod(0o755)
    return env, code, bindir


def _cleanup(env: Env, name: str) -> None:
    ids = EXAMPLES[name][0]
    for cid in ids:
        env.cli("delete", "--force", cid)
    left = [x for cid in ids for x in env.leftovers(cid)]
    assert not left, f"left behind: {left}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name: str, tmp_path: Path) -> None:
    """As a user runs it: a script of its own, `asyncio.run(main())` / `trio.run(main)`."""
    env, code, bindir = _prepare(name, tmp_path)
    try:
        p = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL,
                           env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
        assert p.returncode == 0, p.stderr
        for text in EXAMPLES[name][1]:
            assert text in p.stdout, p.stdout
    finally:
        _cleanup(env, name)


def _main_of(code: str) -> Any:
    """The example's ``main`` (its last line, which runs it, left out)."""
    body = re.sub(r"^(asyncio\.run\(main\(\)\)|trio\.run\(main\))$", "", code, flags=re.M)
    ns: dict[str, Any] = {"__name__": "example"}
    exec(compile(body, "<docs/api.md example>", "exec"), ns)
    return ns["main"]


async def _run_in_this_loop(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    env, code, bindir = _prepare(name, tmp_path)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    try:
        await _main_of(code)()
        out = capsys.readouterr().out
        for text in EXAMPLES[name][1]:
            assert text in out, out
    finally:
        _cleanup(env, name)


@pytest.mark.trio
@pytest.mark.parametrize("name", [n for n in sorted(EXAMPLES) if n.startswith("trio-")])
async def test_trio_example_under_pytest_trio(name: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The trio examples' main() in pytest-trio's own trio loop, as trio users test."""
    await _run_in_this_loop(name, tmp_path, capsys, monkeypatch)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("name", [n for n in sorted(EXAMPLES) if n.startswith("asyncio-")])
async def test_asyncio_example_in_a_running_loop(name: str, tmp_path: Path, anyio_backend: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The asyncio examples' main() inside an already running asyncio loop."""
    await _run_in_this_loop(name, tmp_path, capsys, monkeypatch)
