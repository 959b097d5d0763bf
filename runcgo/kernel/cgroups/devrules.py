"""Device access rules: the OCI list turned into one normalised form that the
v1 writer (devices.allow/deny) and the v2 eBPF generator both consume.

Semantics follow the v1 device controller: a rule of type ``a`` with no
major/minor and full ``rwm`` access resets everything (allow-all or
deny-all); every later rule is an exception, and the last matching rule
decides.  runc additionally always allows a fixed set of harmless devices and
the container's own ``linux.devices``; :func:`container_rules` adds those so
/dev/null works even when the config says only "deny all".
"""

from __future__ import annotations

from ..._record import record
from ...spec import LinuxDevice, LinuxDeviceCgroup
from .base import CgroupError

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence

WILDCARD = -1


@record(frozen=True)
class Rule:
    allow: bool
    type: str  # "a", "c", "b"
    major: int  # WILDCARD for any
    minor: int
    access: str  # subset of "rwm", canonical order

    def v1_line(self) -> str:
        """The text for devices.allow / devices.deny."""
        if self.is_reset():
            return "a"
        maj = "*" if self.major == WILDCARD else str(self.major)
        mnr = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {maj}:{mnr} {self.access}"

    def is_reset(self) -> bool:
        return (self.type == "a" and self.major == WILDCARD and self.minor == WILDCARD
                and self.access == "rwm")


def _access(s: str | None) -> str:
    s = s or "rwm"
    if not s or set(s) - set("rwm"):
        raise CgroupError(f"devices: invalid access {s!r} (must be a combination of r, w, m)")
    return "".join(c for c in "rwm" if c in s)


def from_spec(rules: Sequence[LinuxDeviceCgroup] | None) -> list[Rule]:
    """Validate and normalise ``linux.resources.devices``."""
    out: list[Rule] = []
    for i, r in enumerate(rules or ()):
        t = r.type or "a"
        if t not in ("a", "c", "b"):
            raise CgroupError(f"devices[{i}]: invalid type {t!r} (must be a, c or b)")
        maj = WILDCARD if r.major is None or r.major < 0 else r.major
        mnr = WILDCARD if r.minor is None or r.minor < 0 else r.minor
        out.append(Rule(r.allow, t, maj, mnr, _access(r.access)))
    return out


# runc's always-allowed devices: null, zero, full, random, urandom, tty, console,
# ptmx, the pts directory, and "mknod any char/block" (not open).
DEFAULT_ALLOWED: tuple[Rule, ...] = (
    Rule(True, "c", WILDCARD, WILDCARD, "m"),
    Rule(True, "b", WILDCARD, WILDCARD, "m"),
    Rule(True, "c", 1, 3, "rwm"),
    Rule(True, "c", 1, 5, "rwm"),
    Rule(True, "c", 1, 7, "rwm"),
    Rule(True, "c", 1, 8, "rwm"),
    Rule(True, "c", 1, 9, "rwm"),
    Rule(True, "c", 5, 0, "rwm"),
    Rule(True, "c", 5, 1, "rwm"),
    Rule(True, "c", 5, 2, "rwm"),
    Rule(True, "c", 136, WILDCARD, "rwm"),
)


def container_rules(rules: Sequence[LinuxDeviceCgroup] | None,
                    devices: Sequence[LinuxDevice] | None) -> list[Rule]:
    """The full rule list for a new container: spec rules, then runc's defaults
    and the container's own device nodes (allowed rwm)."""
    out = from_spec(rules)
    if devices is None:
        return out
    out.extend(DEFAULT_ALLOWED)
    for d in devices:
        t = "b" if d.type == "b" else "c" if d.type in ("c", "u") else ""
        if t:
            out.append(Rule(True, t, d.major, d.minor, "rwm"))
    return out


def effective(rules: Sequence[Rule]) -> tuple[bool, list[Rule]]:
    """(default allow?, exceptions in order) after applying every reset rule."""
    default_allow = True
    exceptions: list[Rule] = []
    for r in rules:
        if r.is_reset():
            default_allow = r.allow
            exceptions = []
        else:
            exceptions.append(r)
    return default_allow, exceptions
