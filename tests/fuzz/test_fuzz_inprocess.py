"""Fuzzing through the parse/validate layer, in-process: the same functions the CLI
calls before anything is created.  Property: every input is accepted or refused with
the project's own error type (RuncgoError) carrying a one-line message -- never any
other exception, which the CLI would show as a traceback.

Example counts come from $RUNCGO_FUZZ_EXAMPLES (default 300, the CI smoke;
``nox -s fuzz`` runs 10,000).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runcgo import cli
from runcgo import spec as S
from runcgo._struct import to_builtins
from runcgo.errors import RuncgoError
from runcgo.kernel import cgroups
from runcgo.ops import create as C
from runcgo.ops import exec as E
from runcgo.ops import update as U

import bundles
from . import strategies as F
from harness import TEST_CG_PREFIX

pytestmark = pytest.mark.timeout(max(120, F.EXAMPLES // 10))
FUZZ = settings(max_examples=F.EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])


def one_line_or_ok(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a refusal must be a RuncgoError with one non-empty line."""
    try:
        return fn()
    except RuncgoError as exc:
        msg = str(exc)
        assert msg.strip() and "\n" not in msg, repr(msg)
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    bundles.make_rootfs(str(d / "rootfs"))
    return d


def base_config(rootfs: str) -> dict[str, Any]:
    cfg = bundles.default_config()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["linux"]["cgroupsPath"] = f"/{TEST_CG_PREFIX}wta-fuzz"
    return cfg


@pytest.fixture(autouse=True)
def quiet_stderr() -> Iterator[None]:
    """Warnings (log.warning) go to stderr; keep the test output readable."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


@FUZZ
@given(data=st.data())
def test_config(workdir: Path, data: st.DataObject) -> None:
    """config.json -> create's preflight (load, validate, every pre-creation check),
    the procattr checks and the cgroup paths it would use."""
    bundle = workdir / "bundle"
    bundle.mkdir(exist_ok=True)
    doc = data.draw(F.mutated(base_config(str(workdir / "rootfs")), F.SPEC_PATHS))
    (bundle / "config.json").write_bytes(data.draw(F.as_bytes(doc)))

    def check() -> None:
        spec = C.preflight(str(bundle), C.CreateOptions(bundle=str(bundle)))
        C.procattr_steps(spec)
        linux = spec.linux or S.Linux()
        cg = cgroups.new_manager("fuzz", linux.cgroups_path)  # paths only: nothing is made
        for d in cg.to_state().get("dirs", {}).values():
            assert os.path.normpath(d).startswith("/sys/fs/cgroup/"), d

    one_line_or_ok(check)


@FUZZ
@given(data=st.data())
def test_process_json(workdir: Path, data: st.DataObject) -> None:
    """exec --process FILE -> decode and exec's own checks before it forks."""
    doc = data.draw(F.mutated(F.process_doc(), F.PROCESS_PATHS))
    path = workdir / "process.json"
    path.write_bytes(data.draw(F.as_bytes(doc)))

    def check() -> None:
        proc = E.load_process_file(str(path))
        E.check_process(proc, E.ExecOptions(process=proc))

    one_line_or_ok(check)


@FUZZ
@given(data=st.data())
def test_update_json(data: st.DataObject) -> None:
    """update -r FILE and the scalar flags -> the LinuxResources update would apply."""
    doc = data.draw(F.mutated(F.resources_doc(), F.RESOURCES_PATHS))
    raw = data.draw(F.as_bytes(doc))
    flags = data.draw(st.dictionaries(st.sampled_from(sorted(U.FLAGS)),
                                      st.sampled_from(F.ARG_VALUES) | st.text(max_size=8),
                                      max_size=3))

    def check() -> None:
        base = S.decode(raw, S.LinuxResources, "--resources")
        res = U.resources_from_flags(base, dict(flags))
        U._merge({"memory": {"limit": 1}}, to_builtins(res))

    one_line_or_ok(check)


def run_cli(args: list[str], stdin: bytes = b"") -> tuple[int, str]:
    """cli.main in-process, as `runcgo ARGS` would run it: (exit code, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin))
    old = sys.stdin
    sys.stdin = fake_stdin
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli.main(args)
    except SystemExit as exc:  # --help
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = old
    return code, err.getvalue()


def assert_clean_cli(code: int, stderr: str) -> None:
    assert isinstance(code, int)
    lines = [ln for ln in stderr.splitlines() if "level=debug" not in ln and '"debug"' not in ln]
    assert len(lines) <= 1, stderr
    assert "Traceback" not in stderr
    if code != 0 and lines:
        assert lines[0].strip()


STATE_COMMANDS = [["state"], ["delete"], ["delete", "--force"], ["kill", "{id}", "0"], ["start"],
                  ["pause"], ["resume"], ["ps", "--format", "json"], ["update", "--pids-limit", "5"],
                  ["exec", "{id}", "true"], ["list"], ["list", "-f", "json"],
                  ["events", "--stats", "--interval", "1ms"]]


@FUZZ
@given(data=st.data())
def test_state_json(tmp_path: Path, data: st.DataObject) -> None:
    """A damaged state.json under --root -> every command that reads it.  Its pid
    and cgroup are never a real process or cgroup (see strategies.STATE_VALUES)."""
    root = tmp_path / f"root-{os.urandom(4).hex()}"
    cid = "fz"
    (root / cid).mkdir(parents=True)
    doc = F.state_doc(cid, str(tmp_path))
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(doc)))
        if key in F.STATE_VALUES:
            doc[key] = data.draw(F.STATE_VALUES[key])
        elif data.draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = data.draw(F.json_values)
    raw = data.draw(F.as_bytes(doc))
    (root / cid / "state.json").write_bytes(raw)
    cmd = data.draw(st.sampled_from(STATE_COMMANDS))
    args = [a.replace("{id}", cid) for a in cmd]
    if "{id}" not in " ".join(cmd) and cmd[0] != "list":
        args.append(cid)
    code, stderr = run_cli(["--root", str(root), *args])
    assert_clean_cli(code, stderr)


@pytest.mark.parametrize("hooks", ["x", ["poststop"], {"poststop": "x"}, {"poststart": [1]},
                                   {"poststop": [{"path": 5}]}])
@pytest.mark.parametrize("cmd", [["delete"], ["start"]])
def test_damaged_saved_hooks(tmp_path: Path, hooks: object, cmd: list[str]) -> None:
    """Found by the fuzzer: a state whose saved config has malformed hooks reached
    start's/delete's hook check as a traceback.  One line now, whatever the shape."""
    root = tmp_path / "root"
    (root / "fz").mkdir(parents=True)
    doc = F.state_doc("fz", str(tmp_path))
    doc["config"] = {"hooks": hooks}
    doc["status"] = "created" if cmd == ["start"] else "stopped"
    (root / "fz" / "state.json").write_text(json.dumps(doc))
    code, stderr = run_cli(["--root", str(root), *cmd, "fz"])
    assert_clean_cli(code, stderr)


_NO_SLASH = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                    max_size=6)


@FUZZ
@given(argv=F.argv(), stdin=st.binary(max_size=40))
def test_argv(tmp_path: Path, argv: list[str], stdin: bytes) -> None:
    """Any command line: exit code, at most one error line, no traceback.  Runs in a
    fresh directory with an empty --root, so no argument can name a real container
    or bundle (and absolute paths are limited to /nonexistent)."""
    argv = [a for a in argv if not a.startswith("/") or a == "/nonexistent"]
    if any("\x00" in a for a in argv):
        argv = [a.replace("\x00", "") for a in argv]
    work = tmp_path / os.urandom(4).hex()
    work.mkdir()
    old = os.getcwd()
    os.chdir(work)
    try:
        code, stderr = run_cli(["--root", str(work / "root"), *argv], stdin)
    finally:
        os.chdir(old)
    assert_clean_cli(code, stderr)
    assert not (work / "root").exists() or not any((work / "root").iterdir())


def test_strategies_cover_the_whole_schema() -> None:
    """Every struct of the spec is reachable by the config mutator."""
    reached = {t[1] if t[0] == "struct" else t[1][1]
               for _, t in F.SPEC_PATHS if t[0] == "struct" or (t[0] == "opt" and t[1][0] == "struct")}
    missing = {S.Process, S.Root, S.Hooks, S.Linux, S.LinuxResources, S.LinuxSeccomp, S.User,
               S.LinuxCapabilities, S.LinuxMemory, S.LinuxCPU, S.LinuxBlockIO,
               S.LinuxIntelRdt, S.LinuxPersonality, S.LinuxMemoryPolicy, S.Scheduler,
               S.IOPriority} - reached
    assert not missing, missing
