"""personality, scheduler, I/O priority and memory policy: validated in the parent,
applied in a child, observed by busybox after exec."""

from __future__ import annotations

from typing import Any

import pytest

from runcgo import spec
from runcgo._struct import decode as _sdecode
from runcgo._struct import encode as _sencode
from runcgo.errors import ConfigError
from runcgo.kernel import procattrs

from .conftest import run_child

pytestmark = pytest.mark.root


def dec(kind: type[Any], doc: dict[str, Any]) -> Any:
    return _sdecode(_sencode(doc), kind)


def stat_fields(text: str) -> list[str]:
    """/proc/PID/stat split after the comm field; index 0 is field 3 (state)."""
    return text[text.rindex(")") + 2:].split()


@pytest.mark.parametrize(("kind", "doc", "check", "path"), [
    (spec.LinuxPersonality, {"domain": "LINUX64"}, procattrs.check_personality,
     "$.linux.personality.domain"),
    (spec.LinuxPersonality, {"domain": "LINUX", "flags": ["NOPE"]}, procattrs.check_personality,
     "$.linux.personality.flags[0]"),
    (spec.Scheduler, {"policy": "SCHED_FAST"}, procattrs.check_scheduler,
     "$.process.scheduler.policy"),
    (spec.Scheduler, {"policy": "SCHED_OTHER", "nice": 20}, procattrs.check_scheduler,
     "$.process.scheduler.nice"),
    (spec.Scheduler, {"policy": "SCHED_FIFO", "priority": 0}, procattrs.check_scheduler,
     "$.process.scheduler.priority"),
    (spec.Scheduler, {"policy": "SCHED_BATCH", "priority": 3}, procattrs.check_scheduler,
     "$.process.scheduler.priority"),
    (spec.Scheduler, {"policy": "SCHED_OTHER", "runtime": 5}, procattrs.check_scheduler,
     "$.process.scheduler.runtime"),
    (spec.Scheduler, {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5},
     procattrs.check_scheduler, "$.process.scheduler.runtime"),
    (spec.Scheduler, {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_TURBO"]},
     procattrs.check_scheduler, "$.process.scheduler.flags[0]"),
    (spec.IOPriority, {"class": "IOPRIO_CLASS_NONE"}, procattrs.check_io_priority,
     "$.process.ioPriority.class"),
    (spec.IOPriority, {"class": "IOPRIO_CLASS_BE", "priority": 8}, procattrs.check_io_priority,
     "$.process.ioPriority.priority"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_RANDOM"}, procattrs.check_memory_policy,
     "$.linux.memoryPolicy.mode"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND"}, procattrs.check_memory_policy,
     "$.linux.memoryPolicy.nodes"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_DEFAULT", "nodes": "0"},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.nodes"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "3-1"},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.nodes"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "0,x"},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.nodes"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "0-99999"},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.nodes"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "0",
                              "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.flags"),
    (spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_FAST"]},
     procattrs.check_memory_policy, "$.linux.memoryPolicy.flags[0]"),
])
def test_invalid(kind: type[Any], doc: dict[str, Any], check: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        check(dec(kind, doc))
    assert info.value.path == path


def test_personality_linux32() -> None:
    p = dec(spec.LinuxPersonality, {"domain": "LINUX32"})
    r = run_child(lambda: procattrs.apply_personality(p),
                  ["sh", "-c", "uname -m; cat /proc/self/personality"])
    assert r.exit_code == 0, r.stderr
    machine, persona = r.stdout.split()
    assert machine in ("i686", "i386") and int(persona, 16) == 0x8


def test_personality_flags() -> None:
    p = dec(spec.LinuxPersonality, {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})
    r = run_child(lambda: procattrs.apply_personality(p), ["cat", "/proc/self/personality"])
    assert int(r.stdout, 16) == 0x0040000


@pytest.mark.parametrize(("doc", "policy", "nice", "rtprio"), [
    ({"policy": "SCHED_BATCH", "nice": 7}, 3, 7, 0),
    ({"policy": "SCHED_IDLE"}, 5, 0, 0),
    ({"policy": "SCHED_FIFO", "priority": 10}, 1, 0, 10),
    ({"policy": "SCHED_RR", "priority": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}, 2, 0, 3),
])
def test_scheduler(doc: dict[str, Any], policy: int, nice: int, rtprio: int) -> None:
    s = dec(spec.Scheduler, doc)
    r = run_child(lambda: procattrs.apply_scheduler(s), ["cat", "/proc/self/stat"])
    assert r.exit_code == 0, r.stderr
    f = stat_fields(r.stdout)
    # fields 19 (nice), 40 (rt_priority), 41 (policy); f[0] is field 3
    assert (int(f[41 - 3]), int(f[19 - 3]), int(f[40 - 3])) == (policy, nice, rtprio)


def test_scheduler_deadline() -> None:
    s = dec(spec.Scheduler, {"policy": "SCHED_DEADLINE", "runtime": 1_000_000,
                             "deadline": 10_000_000, "period": 10_000_000})

    def setup() -> None:
        procattrs.apply_scheduler(s)
        attr = procattrs.sched_getattr()
        assert (attr.sched_policy, attr.sched_runtime) == (6, 1_000_000)

    r = run_child(setup, None)
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize(("doc", "expect"), [
    ({"class": "IOPRIO_CLASS_BE", "priority": 3}, "best-effort: prio 3"),
    ({"class": "IOPRIO_CLASS_IDLE"}, "idle"),
    ({"class": "IOPRIO_CLASS_RT", "priority": 1}, "realtime: prio 1"),
])
def test_io_priority(doc: dict[str, Any], expect: str) -> None:
    io = dec(spec.IOPriority, doc)

    def setup() -> None:
        procattrs.apply_io_priority(io)
        assert procattrs.ioprio_get() == procattrs.check_io_priority(io)

    r = run_child(setup, ["sh", "-c", "ionice -p $$"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == expect


@pytest.mark.parametrize(("doc", "expect"), [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
     "prefer=static:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
])
def test_memory_policy(doc: dict[str, Any], expect: str) -> None:
    mp = dec(spec.LinuxMemoryPolicy, doc)
    r = run_child(lambda: procattrs.apply_memory_policy(mp), ["cat", "/proc/self/numa_maps"])
    if r.exit_code != 0 and "numa_maps" in r.stderr:
        pytest.skip("kernel without NUMA")
    assert r.exit_code == 0, r.stderr
    # the heap's policy is the process policy
    policies = {line.split()[1] for line in r.stdout.splitlines() if "heap" in line}
    assert policies == {expect}, r.stdout


def test_memory_policy_bad_node_fails_in_child() -> None:
    mp = dec(spec.LinuxMemoryPolicy, {"mode": "MPOL_BIND", "nodes": "1000"})
    r = run_child(lambda: procattrs.apply_memory_policy(mp), None)
    assert r.exit_code == 120 and "set_mempolicy(MPOL_BIND)" in r.stderr
