"""Capabilities: names, the five sets around the uid switch, and host limits."""

from __future__ import annotations

import os

import pytest

from runcgo.errors import ConfigError
from runcgo.kernel import capabilities as caps
from runcgo.spec import LinuxCapabilities

from .conftest import run_child, status_fields

pytestmark = pytest.mark.root

DOCKER_DEFAULT = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                  "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                  "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def mask(names: list[str]) -> int:
    return sum(1 << caps.CAP_NUMBERS[n] for n in names)


def statmasks(stdout: str) -> dict[str, int]:
    f = status_fields(stdout)
    return {k: int(f[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def switch_user(c: LinuxCapabilities | None, uid: int, gid: int) -> None:
    """The pre-exec child's order: bounding as root, keepcaps, setres[ug]id, sets."""
    caps.apply_bounding(c)
    caps.keep_caps_for_user_switch()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    caps.apply_sets(c)


def test_all_41_names() -> None:
    assert len(caps.CAP_NAMES) == 41
    assert caps.CAP_NUMBERS["CAP_CHOWN"] == 0
    assert caps.CAP_NUMBERS["CAP_SYS_RESOURCE"] == 24
    assert caps.CAP_NUMBERS["CAP_AUDIT_READ"] == 37
    assert caps.CAP_NUMBERS["CAP_PERFMON"] == 38
    assert caps.CAP_NUMBERS["CAP_BPF"] == 39
    assert caps.CAP_NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.check(LinuxCapabilities(bounding=list(caps.CAP_NAMES))) == []


def test_last_cap_matches_proc() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert caps.last_cap() == int(f.read())


def test_unknown_name_is_one_warning_in_runcs_words() -> None:
    warnings = caps.check(LinuxCapabilities(effective=["CAP_CHOWN", "CAP_NOPE"],
                                            bounding=["CAP_NOPE", "CAP_ALSO_NOPE"]))
    assert warnings == ["ignoring unknown or unavailable capabilities: [CAP_ALSO_NOPE CAP_NOPE]"]
    assert caps._mask(["CAP_CHOWN", "CAP_NOPE"]) == 1  # and it is left out


def test_non_string_name_is_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        caps.check(LinuxCapabilities(effective=["CAP_CHOWN", 7]))  # type: ignore[list-item]
    assert info.value.path == "$.process.capabilities.effective[1]"


def test_cap_newer_than_kernel_is_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caps, "_last_cap", 39)
    warnings = caps.check(LinuxCapabilities(bounding=["CAP_CHECKPOINT_RESTORE", "CAP_BPF"],
                                            permitted=["CAP_CHECKPOINT_RESTORE", "CAP_NOPE"]))
    assert warnings == ["ignoring unknown or unavailable capabilities: "
                        "[CAP_CHECKPOINT_RESTORE CAP_NOPE]"]
    assert caps._mask(["CAP_CHECKPOINT_RESTORE", "CAP_BPF"]) == 1 << 39


def test_none_leaves_caps_alone() -> None:
    before = caps.status_masks()
    r = run_child(lambda: switch_user(None, 0, 0), ["cat", "/proc/self/status"])
    assert r.exit_code == 0, r.stderr
    got = statmasks(r.stdout)
    assert got["CapBnd"] == before["CapBnd"]


def test_docker_default_as_root() -> None:
    c = LinuxCapabilities(bounding=DOCKER_DEFAULT, effective=DOCKER_DEFAULT,
                          permitted=DOCKER_DEFAULT)
    r = run_child(lambda: switch_user(c, 0, 0), ["cat", "/proc/self/status"])
    assert r.exit_code == 0, r.stderr
    got = statmasks(r.stdout)
    m = mask(DOCKER_DEFAULT)
    assert got == {"CapInh": 0, "CapPrm": m, "CapEff": m, "CapBnd": m, "CapAmb": 0}


def test_non_root_exact_sets_with_ambient() -> None:
    """uid 1000 ends with exactly the configured sets; ambient survives exec."""
    c = LinuxCapabilities(
        bounding=["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
        effective=["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        permitted=["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
        inheritable=["CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
        ambient=["CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
    )

    def setup() -> None:
        switch_user(c, 1000, 1000)
        e, p, i = caps.capget()  # before exec: exactly the configured sets
        assert (e, p, i) == (mask(c.effective or []), mask(c.permitted or []),
                             mask(c.inheritable or []))

    r = run_child(setup, ["cat", "/proc/self/status"])
    assert r.exit_code == 0, r.stderr
    got = statmasks(r.stdout)
    amb = mask(["CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"])
    # after exec of a file without file caps, a non-root process keeps ambient only
    assert got == {"CapInh": mask(c.inheritable or []), "CapPrm": amb, "CapEff": amb,
                   "CapBnd": mask(c.bounding or []), "CapAmb": amb}
    assert status_fields(r.stdout)["Uid"].split()[0] == "1000"


def test_ambient_needs_permitted_and_inheritable() -> None:
    c = LinuxCapabilities(bounding=["CAP_KILL", "CAP_CHOWN"], permitted=["CAP_KILL", "CAP_CHOWN"],
                          effective=["CAP_KILL"], inheritable=["CAP_KILL"],
                          ambient=["CAP_KILL", "CAP_CHOWN"])
    r = run_child(lambda: switch_user(c, 1000, 1000), ["cat", "/proc/self/status"])
    assert r.exit_code == 0, r.stderr
    assert statmasks(r.stdout)["CapAmb"] == mask(["CAP_KILL"])


@pytest.mark.parametrize("set_name", ["bounding", "permitted"])
def test_cap_host_cannot_grant_is_named(set_name: str) -> None:
    if caps.current_bounding() >> caps.CAP_NUMBERS["CAP_SYS_RESOURCE"] & 1:
        pytest.skip("this host can grant CAP_SYS_RESOURCE")
    names = ["CAP_CHOWN", "CAP_SYS_RESOURCE"]
    c = LinuxCapabilities(bounding=names if set_name == "bounding" else ["CAP_CHOWN"],
                          permitted=names if set_name == "permitted" else ["CAP_CHOWN"])
    r = run_child(lambda: switch_user(c, 0, 0), None)
    assert r.exit_code == 120
    assert "CAP_SYS_RESOURCE" in r.stderr and "PermissionError: [Errno 1]" in r.stderr


def test_capset_failure_names_cap() -> None:
    """effective outside permitted: the kernel says EPERM, we say which cap."""
    c = LinuxCapabilities(bounding=["CAP_KILL", "CAP_CHOWN"], permitted=["CAP_KILL"],
                          effective=["CAP_KILL", "CAP_CHOWN"])
    r = run_child(lambda: switch_user(c, 1000, 1000), None)
    assert r.exit_code == 120
    assert "CAP_CHOWN" in r.stderr and "effective" in r.stderr
