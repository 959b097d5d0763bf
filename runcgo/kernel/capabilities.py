"""Process capabilities (all five sets).

INTERFACE CONTRACT (called by kernel/preexec in the container's init and by exec):

    check(caps: LinuxCapabilities | None) -> list[str]      # parent side, before fork:
        raises ConfigError naming an unknown name; returns warnings for names the
        running kernel lacks (those are skipped)
    apply_bounding(caps) -> None     # while still uid 0, before the uid switch
    keep_caps_for_user_switch() -> None   # PR_SET_KEEPCAPS=1 before setresuid
    apply_sets(caps) -> None         # after the uid switch: effective/permitted/inheritable, then ambient

This first version is a placeholder that leaves the pre-exec child's
capabilities unchanged; the security work replaces it.
"""

from __future__ import annotations

from ..spec import LinuxCapabilities


def check(caps: LinuxCapabilities | None) -> list[str]:
    del caps
    return []


def apply_bounding(caps: LinuxCapabilities | None) -> None:
    del caps


def keep_caps_for_user_switch() -> None:
    pass


def apply_sets(caps: LinuxCapabilities | None) -> None:
    del caps
