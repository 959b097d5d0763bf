"""The cgroup-v2 tier.

Tests in ``tests/cgroup2/guest/`` (and ``guest_systemd/``) need pure cgroup v2, which
this host doesn't have.  They are collected on the host as usual, but each item is
replaced by a proxy: the first proxy that runs boots ONE throw-away QEMU guest
(tests/vm/launch.py) that runs ``python -m pytest <all selected guest node ids>`` with
``RUNCGO_IN_VM=1``; every proxy then reports the outcome its test had inside the guest
(pass / fail with the guest's traceback / skip / xfail).  ``-k``, ``--deselect`` and
node ids work as usual.  ``guest_systemd/`` tests get a second boot, with the host's
systemd as the guest's PID 1 — only when some are selected.

Adding a test: drop a ``test_*.py`` into ``tests/cgroup2/guest/``.  It runs as root in
the guest with ``/sys/fs/cgroup`` a cgroup2 mount with every controller enabled at the
root; the host's ``/`` is visible read-only (writes land in a tmpfs overlay, gone at
power-off).  Keep module-level code import-safe on the host (no cgroup work at import
time): the host imports the module to learn the test ids.  Python is 8-50x slower in
the guest, so keep the tests focused.

The guest always gets a blank 64 MiB virtio disk (``/dev/vda``, for io.max/io.weight)
and drives the CLI of this checkout: ``PYTHONPATH`` starts with the rootdir and
``RUNCGO_CLI`` is ``<this python> -m runcgo`` unless set on the host.  The
``runcgo`` fixture of ``guest*/conftest.py`` is tests/harness.py's Runcgo.

Environment knobs (host side):
  RUNCGO_VM_TIMEOUT        seconds for a whole guest session (default 1200)
  RUNCGO_VM_PYTEST_ARGS    extra arguments for the guest pytest (shlex-split)
  RUNCGO_VM_SHOW=1         stream the guest's pytest output to the terminal

Inside the guest (RUNCGO_IN_VM=1) this conftest only records results for the host.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

try:
    from _pytest.outcomes import Skipped as _Skipped
except ImportError:  # pragma: no cover
    _Skipped = None  # type: ignore[assignment,misc]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))
import vmtier

HERE = Path(__file__).resolve().parent
# guest directory -> boot the guest with systemd as PID 1?
GUEST_DIRS = {HERE / "guest": False, HERE / "guest_systemd": True}
RESULTS_ENV = "RUNCGO_VM_RESULTS"
GUEST_DISK_MIB = 64
# Python runs 8-50x slower in the guest and plugin auto-loading (trio, hypothesis, ...)
# costs ~15 s there, so the guest pytest loads only these plugins.  Async guest tests:
# use anyio's plugin (@pytest.mark.anyio; the anyio_backend fixture may say "trio").
# Add more with RUNCGO_VM_PYTEST_ARGS="-p pytest_trio.plugin".
GUEST_PLUGINS = ["pytest_timeout", "anyio.pytest_plugin"]


def _guest_plugins() -> list[str]:
    # the guest runs this interpreter: a plugin importable here is importable there
    return [p for p in GUEST_PLUGINS if importlib.util.find_spec(p.split(".")[0]) is not None]


def _guest_mode(path: Path) -> bool | None:
    for d, systemd in GUEST_DIRS.items():
        if path == d or d in path.parents:
            return systemd
    return None


# ---------------------------------------------------------------------------
# Inside the guest: write one JSON line per test report for the host.
# ---------------------------------------------------------------------------

if vmtier.IN_VM:

    def pytest_runtest_logreport(report: pytest.TestReport) -> None:
        path = os.environ.get(RESULTS_ENV)
        if not path:
            return
        rec = {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "duration": report.duration,
            "longrepr": str(report.longrepr) if report.longrepr else "",
            "wasxfail": getattr(report, "wasxfail", None),
        }
        if report.skipped and isinstance(report.longrepr, tuple):
            rec["longrepr"] = report.longrepr[2]
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------
# On the host: proxies and one VM boot per mode.
# ---------------------------------------------------------------------------


class GuestTestFailed(Exception):
    pass


class GuestSession:
    """Runs all selected guest tests of one mode in a single VM boot."""

    def __init__(self, config: pytest.Config, systemd: bool) -> None:
        self.config = config
        self.systemd = systemd
        self.ran = False
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.rc: int | None = None
        self.output = ""
        self.seconds = 0.0
        self.count = 0

    def run(self, nodeids: list[str]) -> None:
        self.ran = True
        self.count = len(nodeids)
        timeout = float(os.environ.get("RUNCGO_VM_TIMEOUT", "1200"))
        work = Path(tempfile.mkdtemp(prefix="runcgo-vm-results-"))
        results = work / "results.jsonl"
        results.touch()
        env = {
            RESULTS_ENV: str(results),
            "RUNCGO_IN_VM": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        # PYTHONDONTWRITEBYTECODE is deliberately not passed: in the guest, .pyc files
        # land in the throw-away tmpfs overlay, and every later process of the same boot
        # (each runcgo call) is spared the (slow, emulated) compile.
        for k in ("PYTHONHASHSEED",):
            if k in os.environ:
                env[k] = os.environ[k]
        # The guest tests drive the CLI of THIS checkout (not whatever `runcgo` the venv
        # has installed): `python -m runcgo` with the rootdir first on the path.
        root = str(self.config.rootpath)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p
        )
        env["RUNCGO_CLI"] = os.environ.get("RUNCGO_CLI") or f"{sys.executable} -m runcgo"
        extra = shlex.split(os.environ.get("RUNCGO_VM_PYTEST_ARGS", ""))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rfEs",
            "--color=no",
            *(a for p in _guest_plugins() for a in ("-p", p)),
            *extra,
            *nodeids,
        ]
        show = os.environ.get("RUNCGO_VM_SHOW") == "1"
        argv = vmtier.launcher_argv(
            cmd,
            systemd=self.systemd,
            timeout=timeout,
            shares=[str(work)],
            env=env,
            cwd=str(self.config.rootpath),
            # a blank virtio disk (/dev/vda) gives io.max/io.weight a real block device
            extra=(["-v"] if show else []) + ["--disk", str(GUEST_DISK_MIB)],
        )
        t0 = time.monotonic()
        with subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as p:
            assert p.stdout is not None
            chunks = []
            capman = self.config.pluginmanager.getplugin("capturemanager")
            ctx = capman.global_and_fixture_disabled() if (show and capman) else nullcontext()
            try:
                with ctx:
                    for line in p.stdout:
                        chunks.append(line)
                        if show:
                            sys.stderr.buffer.write(line)
                            sys.stderr.flush()
            except BaseException:  # e.g. pytest-timeout or ^C: the launcher kills qemu
                p.terminate()
                raise
            self.rc = p.wait()
        self.seconds = time.monotonic() - t0
        self.output = b"".join(chunks).decode(errors="replace")
        try:
            for rline in results.read_text().splitlines():
                rec = json.loads(rline)
                self.results.setdefault(rec["nodeid"], []).append(rec)
        finally:
            for f in work.iterdir():
                f.unlink()
            work.rmdir()

    def outcome(self, nodeid: str) -> None:
        recs = self.results.get(nodeid)
        if not recs:
            tail = "\n".join(self.output.splitlines()[-60:])
            raise GuestTestFailed(
                f"no result from the guest for {nodeid} (launcher exit status {self.rc}, "
                f"{self.seconds:.1f}s)\n--- guest output (tail) ---\n{tail}"
            )
        for rec in recs:
            if rec["outcome"] == "failed":
                what = "error in " + rec["when"] if rec["when"] != "call" else "failed"
                if rec["wasxfail"] is not None:  # strict xfail that passed
                    raise GuestTestFailed(f"[guest] XPASS(strict) {rec['longrepr']}")
                raise GuestTestFailed(f"[guest, {what}]\n{rec['longrepr']}")
        for rec in recs:
            if rec["outcome"] == "skipped":
                if rec["wasxfail"] is not None:
                    pytest.xfail(f"[guest] {rec['wasxfail']}")
                msg = f"[guest] {rec['longrepr']}"
                if _Skipped is not None:  # report the test file, not this conftest
                    raise _Skipped(msg, allow_module_level=False, _use_item_location=True)
                pytest.skip(msg)
        if not any(r["when"] == "call" for r in recs):
            raise GuestTestFailed(f"the guest reported no call phase for {nodeid}")


class GuestItem(pytest.Item):
    """Stands in on the host for a test that runs inside the VM."""

    def __init__(self, *, systemd: bool, path_: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.systemd = systemd
        self.path_ = path_

    def runtest(self) -> None:
        reason = vmtier.vm_unavailable_reason()
        if reason:
            pytest.skip(reason)
        sessions: dict[bool, GuestSession] = self.config.stash[_sessions_key]
        gs = sessions.setdefault(self.systemd, GuestSession(self.config, self.systemd))
        if not gs.ran:
            ids = [
                i.nodeid
                for i in self.session.items
                if isinstance(i, GuestItem) and i.systemd == self.systemd
            ]
            gs.run(ids)
        gs.outcome(self.nodeid)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, GuestTestFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path_, 0, f"[vm{'+systemd' if self.systemd else ''}] {self.name}"


_sessions_key = pytest.StashKey[dict[bool, GuestSession]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vm: runs in (or boots) the cgroup-v2 QEMU guest; deselect with -m 'not vm'"
    )
    if not vmtier.IN_VM:
        _host_configure(config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # before -m/-k deselection: every guest test is `vm` and `slow`
    for item in items:
        if _guest_mode(Path(item.path)) is not None:
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.slow)


if not vmtier.IN_VM:
    _fstype_key = pytest.StashKey[str]()

    def _host_configure(config: pytest.Config) -> None:
        config.stash[_sessions_key] = {}
        # the VM must never change the host's cgroup layout (v1 tmpfs here)
        config.stash[_fstype_key] = vmtier.host_cgroup_fstype()

    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        before = session.config.stash.get(_fstype_key, "")
        after = vmtier.host_cgroup_fstype()
        if before and after != before:
            session.config.get_terminal_writer().line(
                f"HOST BROKEN: /sys/fs/cgroup changed from {before} to {after} during the "
                "cgroup2 tier",
                red=True,
            )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(session: pytest.Session) -> None:
        # after deselection: replace the remaining guest tests by proxies
        config, items = session.config, session.items
        # + three stalled boots the launcher may retry (tests/vm/launch.py --boot-timeout)
        timeout = float(os.environ.get("RUNCGO_VM_TIMEOUT", "1200")) + 120 + 3 * 90
        has_timeout = config.pluginmanager.hasplugin("timeout")
        for idx, item in enumerate(items):
            mode = _guest_mode(Path(item.path))
            if mode is None or isinstance(item, GuestItem):
                continue
            assert item.parent is not None
            proxy = GuestItem.from_parent(
                item.parent, name=item.name, systemd=mode, path_=Path(item.path)
            )
            # -k/-m already ran on the original items; the guest evaluates the marks
            if has_timeout:
                proxy.add_marker(pytest.mark.timeout(timeout))
            items[idx] = proxy

    def pytest_terminal_summary(
        terminalreporter: Any, exitstatus: int, config: pytest.Config
    ) -> None:
        for systemd, gs in sorted(config.stash.get(_sessions_key, {}).items()):
            if gs.ran:
                terminalreporter.write_line(
                    f"cgroup2 VM{' (systemd)' if systemd else ''}: {gs.count} guest test(s) "
                    f"in one boot, {gs.seconds:.1f}s, launcher exit status {gs.rc}"
                )
