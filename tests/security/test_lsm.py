"""AppArmor / SELinux fields on a host without either LSM (this one): as runc does."""

from __future__ import annotations

import pytest

from runcgo.kernel import lsm

from harness import Runcgo

pytestmark = pytest.mark.skipif(lsm.apparmor_enabled() or lsm.selinux_enabled(),
                                reason="these tests describe a host without AppArmor/SELinux")


def test_apparmor_profile_without_apparmor_is_a_clear_error(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"], **{"process.apparmorProfile": "docker-default"})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    assert "$.process.apparmorProfile" in r.stderr and "docker-default" in r.stderr
    assert not (runcgo.root / cid).exists()


def test_selinux_label_without_selinux_is_a_clear_error(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"], **{"process.selinuxLabel": "system_u:system_r:container_t:s0"})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 1 and "$.process.selinuxLabel" in r.stderr


def test_mount_label_is_ignored_without_selinux(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["true"], **{"linux.mountLabel": "system_u:object_r:container_file_t:s0"})
    assert runcgo("run", "--bundle", str(bundle), cid).returncode == 0


def test_exec_apparmor_flag(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    r = runcgo("exec", "--apparmor", "unconfined-x", cid, "true")
    assert r.returncode == 255 and "AppArmor" in r.stderr  # exec failures: 255, as runc
    runcgo("delete", "-f", cid, check=True)
