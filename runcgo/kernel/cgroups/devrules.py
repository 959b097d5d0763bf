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
    """Canonical ``rwm`` subset.  Letters other than r, w, m are dropped, as runc
    drops them (``"rwa"`` is seen in the wild, runc's own tests use it); a
    string with none of the three is an error."""
    s = s or "rwm"
    out = "".join(c for c in "rwm" if c in s)
    if not out:
        raise CgroupError(f"devices: invalid access {s!r} (must be a combination of r, w, m)")
    return out


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


# runc 1.1.5's always-allowed devices: null, zero, full, random, urandom, tty,
# ptmx, the pts directory, tun, and "mknod any char/block" (not open).
# (/dev/console is a pts device in a container, covered by 136:*.)
DEFAULT_ALLOWED: tuple[Rule, ...] = (
    Rule(True, "c", WILDCARD, WILDCARD, "m"),
    Rule(True, "b", WILDCARD, WILDCARD, "m"),
    Rule(True, "c", 1, 3, "rwm"),
    Rule(True, "c", 1, 5, "rwm"),
    Rule(True, "c", 1, 7, "rwm"),
    Rule(True, "c", 1, 8, "rwm"),
    Rule(True, "c", 1, 9, "rwm"),
    Rule(True, "c", 5, 0, "rwm"),
    Rule(True, "c", 5, 2, "rwm"),
    Rule(True, "c", 136, WILDCARD, "rwm"),
    Rule(True, "c", 10, 200, "rwm"),
)


def container_rules(rules: Sequence[LinuxDeviceCgroup] | None,
                    devices: Sequence[LinuxDevice] | None) -> list[Rule]:
    """The full rule list for a new container: spec rules, then runc's defaults.

    ``devices`` (``linux.devices``) only says that a new container gets the
    defaults: a node created in /dev is *not* thereby allowed, as in runc --
    a config may create /dev/kmsg and deny it (Docker's ``--device`` sends an
    explicit allow rule with the node)."""
    out = from_spec(rules)
    if devices is None:
        return out
    out.extend(DEFAULT_ALLOWED)
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


# -- the v1 controller's state, and moving between two states --------------
#
# Writing a rule list as is starts with "a" (deny all) and then re-allows:
# between those writes a running process loses even /dev/null.  ``update``
# must not do that, so the v1 writer computes the state the rules lead to and
# writes only the difference from the current one (as the kernel keeps it:
# a default and exceptions keyed by exact type/major/minor).

Key = tuple[str, int, int]


@record
class DeviceState:
    """A v1 devices cgroup: the default and the exceptions to it (key -> access)."""

    default_allow: bool
    exceptions: dict[Key, str]


def _merge(a: str, b: str) -> str:
    return "".join(c for c in "rwm" if c in a or c in b)


def _minus(a: str, b: str) -> str:
    return "".join(c for c in "rwm" if c in a and c not in b)


def emulate(rules: Sequence[Rule], start: DeviceState) -> DeviceState:
    """The state the kernel ends in after ``rules`` are written in order: a rule
    against the default adds to an exception, one along it takes access away."""
    state = DeviceState(start.default_allow, dict(start.exceptions))
    for r in rules:
        if r.is_reset():
            state = DeviceState(r.allow, {})
            continue
        key = (r.type, r.major, r.minor)
        cur = state.exceptions.get(key, "")
        new = _minus(cur, r.access) if r.allow == state.default_allow else _merge(cur, r.access)
        if new:
            state.exceptions[key] = new
        else:
            state.exceptions.pop(key, None)
    return state


def parse_list(text: str) -> DeviceState | None:
    """``devices.list`` as a state; None when it cannot tell the exceptions (the
    kernel prints only ``a *:* rwm`` for an allow-by-default cgroup)."""
    lines = text.split("\n")
    entries: dict[Key, str] = {}
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        t, majmin, acc = line.split()
        maj, _, mnr = majmin.partition(":")
        if t == "a" and maj == "*" and mnr == "*" and acc == "rwm":
            return None
        entries[(t, WILDCARD if maj == "*" else int(maj),
                 WILDCARD if mnr == "*" else int(mnr))] = acc
    return DeviceState(False, entries)


def _line(key: Key, access: str) -> str:
    t, maj, mnr = key
    return (f"{t} {'*' if maj == WILDCARD else maj}:{'*' if mnr == WILDCARD else mnr} "
            f"{access}")


def transition(current: DeviceState | None, rules: Sequence[Rule]) -> list[tuple[bool, str]]:
    """(allow?, line) writes taking a v1 cgroup from ``current`` (None: unknown)
    to what ``rules`` describe, never taking away access that both grant when
    both deny by default."""
    if current is None or current.default_allow:
        if not rules or not rules[0].is_reset():
            # Exceptions unknown and no reset to start from: the rules as given.
            return [(r.allow, r.v1_line()) for r in rules]
        current = None
    target = emulate(rules, current or DeviceState(True, {}))
    if current is None or current.default_allow != target.default_allow:
        out = [(target.default_allow, "a")]
        out += [(not target.default_allow, _line(k, acc))
                for k, acc in target.exceptions.items()]
        return out
    grant = not target.default_allow  # the file that adds to an exception
    adds = [(grant, _line(k, _minus(acc, current.exceptions.get(k, ""))))
            for k, acc in target.exceptions.items()
            if _minus(acc, current.exceptions.get(k, ""))]
    drops = [(not grant, _line(k, _minus(acc, target.exceptions.get(k, ""))))
             for k, acc in current.exceptions.items()
             if _minus(acc, target.exceptions.get(k, ""))]
    return adds + drops
