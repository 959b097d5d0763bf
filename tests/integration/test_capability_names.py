"""Capability names the kernel doesn't know: a warning, not an error (runtime-spec 1.3
config.md "capabilities"; runc 1.1 and crun do the same)."""

from __future__ import annotations

from harness import Runcgo

RUNC_WARNING = "ignoring unknown or unavailable capabilities: [CAP_AAA CAP_BLAH]"


def test_unknown_names_in_config_are_ignored_with_a_warning(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "grep CapBnd /proc/self/status"], **{
        "process.capabilities": {"bounding": ["CAP_KILL", "CAP_BLAH", "CAP_AAA"],
                                 "effective": ["CAP_KILL", "CAP_BLAH"],
                                 "permitted": ["CAP_KILL", "CAP_BLAH"]}})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["CapBnd:", f"{1 << 5:016x}"]  # CAP_KILL only
    warnings = [ln for ln in r.stderr.splitlines() if "level=warning" in ln]
    assert len(warnings) == 1 and RUNC_WARNING in warnings[0], r.stderr


def test_unknown_exec_cap_is_ignored_with_a_warning(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", "--cap", "CAP_NOPE", "--cap", "CAP_SYS_CHROOT", cid,
               "grep", "CapEff", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[1], 16) & 1 << 18  # CAP_SYS_CHROOT was added
    assert "ignoring unknown or unavailable capabilities: [CAP_NOPE]" in r.stderr
    runcgo("delete", "-f", cid, check=True)
