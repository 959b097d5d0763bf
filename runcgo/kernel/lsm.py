"""AppArmor profiles and SELinux labels for the container process.

On a host with the LSM enabled, the label is written to /proc/self/attr/.../exec
right before execve (it takes effect at exec, as runc does it).  On a host
without it, asking for a profile or a process label is an error naming the
field, as runc reports it; ``linux.mountLabel`` is ignored there (runc leaves
mount options unchanged when SELinux is off).
"""

from __future__ import annotations

import os

from ..errors import ConfigError


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check(apparmor_profile: str | None, selinux_label: str | None, where: str = "$.process") -> None:
    if apparmor_profile and not apparmor_enabled():
        raise ConfigError(f"AppArmor profile {apparmor_profile!r} requested, but AppArmor is not "
                          "enabled on this host", f"{where}.apparmorProfile")
    if selinux_label and not selinux_enabled():
        raise ConfigError(f"SELinux label {selinux_label!r} requested, but SELinux is disabled or "
                          "not supported on this host", f"{where}.selinuxLabel")


def _write_attr(paths: tuple[str, ...], data: str) -> None:
    last: OSError | None = None
    for path in paths:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            last = exc
            continue
        try:
            os.write(fd, data.encode())
            return
        except OSError as exc:
            raise OSError(exc.errno, f"write {data!r} to {path}") from None
        finally:
            os.close(fd)
    raise OSError(last.errno if last else 2, f"write {data!r}: no {paths[0]}")


def apply_on_exec(apparmor_profile: str | None, selinux_label: str | None) -> None:
    """Arm the labels for the coming execve (call last, just before it)."""
    if apparmor_profile:
        _write_attr(("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"),
                    f"exec {apparmor_profile}")
    if selinux_label:
        _write_attr(("/proc/self/attr/exec",), selinux_label)
