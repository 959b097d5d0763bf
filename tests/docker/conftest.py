"""Docker test tier: session setup (engines + images), opt-in collection, result table."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dockertier as tier  # noqa: E402
import hostcheck  # noqa: E402

# The tier runs when asked for: RUNCGO_DOCKER_TIER=1 (the nox session sets it) or when
# tests/docker (or a file in it) is named on the command line. A plain `pytest` of the whole
# tree skips it, since it installs packages and starts daemons.
ENV_FLAG = "RUNCGO_DOCKER_TIER"


def _explicitly_requested(config: pytest.Config) -> bool:
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        p = (base / arg.split("::")[0]).resolve()
        if p == HERE or HERE in p.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [it for it in items if HERE in Path(str(it.path)).resolve().parents]
    if not mine:
        return
    reason = None
    if os.environ.get(ENV_FLAG) != "1" and not _explicitly_requested(config):
        reason = f"Docker tier: set {ENV_FLAG}=1 or run `pytest tests/docker`"
    elif os.geteuid() != 0:
        reason = "Docker tier needs root"
    if reason:
        for it in mine:
            it.add_marker(pytest.mark.skip(reason=reason))


class Session:
    """What the session fixture set up, and what it must undo."""

    def __init__(self) -> None:
        self.started_engines = False
        self.images: list[str] = []
        self.debian_reason: str | None = None
        self.ctr_image: str | None = None
        self.ctr_reason: str | None = None
        self.podman_image: str | None = None
        self.podman_reason: str | None = None
        self.t0 = time.monotonic()
        self.setup_seconds = 0.0


@pytest.fixture(scope="session")
def tier_session():
    s = Session()
    fs = tier.cgroup_fs_type()
    if fs != "tmpfs":
        pytest.fail(f"/sys/fs/cgroup is {fs}, not tmpfs (v1 hybrid) before the tier ran: "
                    "something mounted cgroup2 over it; fix that first")
    cgroups_before = hostcheck.cgroup_dirs()
    try:
        s.started_engines = tier.engines_up()
    except tier.Unavailable as e:
        pytest.fail(str(e))
    try:
        # leftovers of an interrupted earlier run (re-importing over a tag would leave the old
        # image dangling)
        tier.remove_labelled_containers()
        tier.cleanup_ctr()
        tier.cleanup_podman(["localhost/" + tier.BUSYBOX_IMAGE])
        tier.remove_images([tier.BUSYBOX_IMAGE, tier.DEBIAN_IMAGE])
        tier.build_busybox_image()
        s.images.append(tier.BUSYBOX_IMAGE)
        try:
            tier.build_debian_image()
            s.images.append(tier.DEBIAN_IMAGE)
        except tier.Unavailable as e:
            s.debian_reason = str(e)
        s.ctr_image, s.ctr_reason = _setup_ctr()
        s.podman_image, s.podman_reason = _setup_podman()
        s.setup_seconds = time.monotonic() - s.t0
        yield s
    finally:
        problems: list[str] = []

        def step(what, fn, *a):
            try:
                return fn(*a)
            except Exception as e:  # keep going: the daemons must be stopped whatever happens
                problems.append(f"{what}: {e}")
                return None

        step("tmux", tier.tmux_kill_server)
        step("removing containers", tier.remove_labelled_containers)
        step("removing networks", tier.remove_labelled_networks)
        step("ctr cleanup", tier.cleanup_ctr)
        step("podman cleanup", tier.cleanup_podman, [s.podman_image] if s.podman_image else [])
        step("removing images", tier.remove_images, s.images)
        left = step("listing containers", lambda: tier.docker(
            "ps", "-aq", "--filter", f"label={tier.LABEL}").stdout.split())
        if left:
            problems.append(f"containers left behind: {left}")
        if s.started_engines and os.environ.get("RUNCGO_DOCKER_KEEP") != "1":
            msg = step("docker-down.sh", tier.engines_down)
            if msg and "still running" in msg:
                problems.append(msg)
        if s.started_engines and os.environ.get("RUNCGO_DOCKER_KEEP") != "1":
            left_cg = step("removing the engines' cgroups", hostcheck.remove_new_cgroup_dirs,
                           cgroups_before)
            if left_cg:
                problems.append(f"cgroup directories left behind: {left_cg[:5]}")
        fs = tier.cgroup_fs_type()
        if fs != "tmpfs":
            problems.append(f"/sys/fs/cgroup is now {fs}, not tmpfs: a container mounted cgroup2 "
                            "over the host's cgroup v1 layout")
        if problems:
            pytest.fail("teardown: " + "; ".join(problems), pytrace=False)


def _setup_ctr() -> tuple[str | None, str | None]:
    import subprocess

    if not os.path.exists(tier.CTR):
        return None, "ctr is not installed"
    save = subprocess.Popen([tier.DOCKER, "save", tier.BUSYBOX_IMAGE], stdout=subprocess.PIPE)
    try:
        p = subprocess.run([tier.CTR, "-n", tier.CTR_NAMESPACE, "images", "import", "-"],
                           stdin=save.stdout, capture_output=True, text=True, timeout=120)
    finally:
        assert save.stdout is not None
        save.stdout.close()
        save.wait()
    if p.returncode != 0:
        return None, f"ctr images import failed: {p.stderr.strip()}"
    return "docker.io/library/" + tier.BUSYBOX_IMAGE, None


def _setup_podman() -> tuple[str | None, str | None]:
    import subprocess

    if not os.path.exists(tier.PODMAN):
        return None, "podman is not installed (apt-get install podman failed or was not tried)"
    save = subprocess.Popen([tier.DOCKER, "save", tier.BUSYBOX_IMAGE], stdout=subprocess.PIPE)
    try:
        p = subprocess.run([*tier.podman_base(tier.RUNC_BIN), "load"], stdin=save.stdout,
                           capture_output=True, text=True, timeout=120)
    finally:
        assert save.stdout is not None
        save.stdout.close()
        save.wait()
    if p.returncode != 0:
        return None, f"podman load failed: {p.stderr.strip()}"
    return "localhost/" + tier.BUSYBOX_IMAGE, None


# ------------------------------------------------------------------------------ result table

def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    RESULTS = tier.RESULTS
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("Docker tier: scenario | runc | runcgo")
    sids = [s for s in tier.SCENARIO_ORDER if any((s, rt) in RESULTS for rt in ("runc", "runcgo"))]
    w = max(len(s) for s in sids)
    tr.write_line(f"{'scenario':<{w}} | {'runc':<6} | runcgo")
    tr.write_line(f"{'-' * w}-+-{'-' * 6}-+-{'-' * 6}")
    count = {"runc": {}, "runcgo": {}}
    for sid in sids:
        cells = []
        for rt in ("runc", "runcgo"):
            outcome = RESULTS.get((sid, rt), ("-", ""))[0]
            count[rt][outcome] = count[rt].get(outcome, 0) + 1
            cells.append(outcome)
        tr.write_line(f"{sid:<{w}} | {cells[0]:<6} | {cells[1]}")
    for rt in ("runc", "runcgo"):
        tr.write_line(f"{rt}: " + ", ".join(f"{n} {k}" for k, n in sorted(count[rt].items())))
    details = [(k, v) for k, v in RESULTS.items() if v[0] != "pass" and v[1]]
    if details:
        tr.write_line("")
        tr.write_line("not passing (first line of the reason):")
        for (sid, rt), (outcome, detail) in details:
            tr.write_line(f"  {sid} [{rt}] {outcome}: {detail.splitlines()[0][:200]}")
    out = os.environ.get("RUNCGO_DOCKER_RESULTS")
    if out:
        Path(out).write_text(json.dumps(
            {f"{s}|{rt}": {"outcome": o, "detail": d} for (s, rt), (o, d) in RESULTS.items()},
            indent=1))
