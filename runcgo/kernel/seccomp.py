"""Seccomp: compile an OCI profile to BPF (cached), load it with seccomp(2).

INTERFACE CONTRACT:

    prepare(profile: LinuxSeccomp | None) -> Prepared | None   # parent side, before fork;
        compiles (or fetches from the cache) the BPF program; raises ConfigError on bad input
    load(prepared: Prepared, state_json: bytes | None = None) -> None
        # in the child, as late as possible (right before exec); for SCMP_ACT_NOTIFY it
        # sends the listener fd + state to listenerPath

This first version is a placeholder that refuses profiles; the security work
replaces it.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..spec import LinuxSeccomp


class Prepared:
    """A compiled filter ready to be loaded in the child."""


def prepare(profile: LinuxSeccomp | None) -> Prepared | None:
    if profile is None:
        return None
    raise ConfigError("seccomp profiles are not supported yet", "$.linux.seccomp")


def load(prepared: Prepared, state_json: bytes | None = None) -> None:
    del prepared, state_json
