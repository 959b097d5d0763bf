"""Hypothesis strategies for every input runcgo reads: config.json (the whole OCI
schema, generated from runcgo.spec's own type annotations), process.json, update
JSON, state.json and the command line.

Configs are mostly valid: a working base config with a few fields replaced by
values of the field's type (often extreme), of a wrong type, or removed, and now
and then a corrupted JSON text.  ``safe=True`` keeps to what a real ``create`` on
this host may do without touching the host: no host paths as mount sources or
namespace paths, no netDevices (they move host interfaces), no shared rootfs
propagation, hooks only /bin/true, a fixed cgroupsPath under the test prefix.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import strategies as st

from runcgo import spec as S
from runcgo._struct import _meta, _types
from runcgo.kernel.capabilities import CAP_NAMES
from runcgo.kernel.seccomp_actions import ACTIONS, ARCHES, OPS

EXAMPLES = int(os.environ.get("RUNCGO_FUZZ_EXAMPLES", "300"))

INTS = [-(2**63) - 1, -(2**63), -(2**31), -1001, -1, 0, 1, 2, 5, 255, 1000, 1001, 4096,
        65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63,
        2**64 - 1, 2**64, 10**30]
WORDS = [
    # namespaces, devices, mounts, propagation
    *S.NAMESPACE_TYPES, "c", "b", "u", "p", "proc", "sysfs", "tmpfs", "bind", "rbind", "none",
    "mqueue", "devpts", "cgroup", "cgroup2", "ro", "rw", "nosuid", "nodev", "noexec", "rro",
    "private", "rprivate", "slave", "rslave", "unbindable", "mode=755", "size=1k", "idmap",
    # paths, including ones that try to leave the rootfs
    "/", "/tmp", "/dev/null", "/dev/x", "/proc/sys", "/proc/kcore", "/sys/firmware", "..",
    "/../..", "../../etc", "/proc/self/fd/3", "relative", "//", "/tmp/../..", "/dev/../etc",
    # identity, capabilities, rlimits, seccomp, sysctls, misc
    *CAP_NAMES, "CAP_NOPE", *sorted(S._RLIMITS), "RLIMIT_NOPE", *ACTIONS, *ARCHES,
    *OPS, "SCHED_OTHER", "SCHED_FIFO", "SCHED_BATCH", "IOPRIO_CLASS_RT", "IOPRIO_CLASS_IDLE",
    "LINUX", "LINUX32", "MPOL_BIND", "MPOL_DEFAULT", "net.ipv4.ip_forward", "kernel.shmmni",
    "kernel.printk_ratelimit", "fs.mqueue.msg_max", "kernel.hostname", "kernel.domainname",
    "vm.swappiness", "net/../kernel", "1.0.2", "1.3.0", "2.0.0", "0-1", "0", "0-1000", "a",
    "max", "1G", "2MB", "runcgo", "x" * 300, "", " ", "\x00", "\n", "\ud800", "é", "😀",
    "unconfined", "system_u:system_r:container_t:s0", "KEY=VALUE", "NOEQUALS", "PATH=/bin",
    "/bin/true", "/nonexistent", "true", "false", "monotonic", "boottime", "realtime",
]
DICT_KEYS = ["net.ipv4.ip_forward", "kernel.shmmni", "kernel.printk_ratelimit", "a", "",
             "monotonic", "boottime", "mlx5_0", "eth0", "lo", "\ud800", "x" * 100,
             "memory.max", "cpu.weight", "../x"]

json_values = st.recursive(
    st.none() | st.booleans() | st.sampled_from(INTS) | st.floats(allow_nan=False)
    | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(DICT_KEYS),
                                                                inner, max_size=3),
    max_leaves=6)


def _for_type(t: tuple[Any, ...], depth: int) -> st.SearchStrategy[Any]:
    """Values of the annotated type ``t`` (runcgo._struct's parsed form)."""
    kind = t[0]
    if kind == "opt":
        return st.none() | _for_type(t[1], depth)
    if kind == "any":
        return json_values
    if kind == "prim":
        name = t[2]
        if name == "int":
            return st.sampled_from(INTS) | st.integers(-5, 70000)
        if name == "str":
            return st.sampled_from(WORDS) | st.text(max_size=10)
        if name == "bool":
            return st.booleans()
        return st.floats() | st.integers(-5, 5)
    if kind == "list":
        return st.lists(for_value(t[1], depth + 1), max_size=3 if depth < 3 else 1)
    if kind == "dict":
        return st.dictionaries(st.sampled_from(DICT_KEYS) | st.text(max_size=8),
                               for_value(t[1], depth + 1), max_size=3)
    return for_struct(t[1], depth + 1)


def for_value(t: tuple[Any, ...], depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes any JSON value at all."""
    return st.one_of(_for_type(t, depth), _for_type(t, depth), _for_type(t, depth), json_values)


def for_struct(cls: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object for a spec struct: a random subset of its fields, required ones
    usually present."""
    types = _types(cls)
    if depth > 4:
        return st.just({})
    optional = {key: st.deferred(lambda t=types[attr], d=depth: for_value(t, d))
                for attr, key, *_ in _meta(cls).fields}
    return st.fixed_dictionaries({}, optional=optional)


def schema_paths(cls: type = S.Spec, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
    """Every (JSON key path, type) reachable through struct fields from ``cls``."""
    out = []
    for attr, key, *_ in _meta(cls).fields:
        t = _types(cls)[attr]
        out.append(((*prefix, key), t))
        inner = t[1] if t[0] == "opt" else t
        if inner[0] == "struct" and len(prefix) < 5:
            out += schema_paths(inner[1], (*prefix, key))
    return out


SPEC_PATHS = schema_paths()
PROCESS_PATHS = schema_paths(S.Process)
RESOURCES_PATHS = schema_paths(S.LinuxResources)

# Where a real create could reach the host: kept fixed (or from SAFE_VALUES) in safe mode.
UNSAFE = {("root",), ("root", "path"), ("linux", "cgroupsPath"), ("linux", "netDevices"),
          ("linux", "rootfsPropagation"), ("hooks",), ("mounts",), ("linux", "namespaces"),
          ("linux", "sysctl"), ("linux", "intelRdt"), ("process", "args")}
SAFE_VALUES: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("linux", "rootfsPropagation"): st.sampled_from(["", "private", "rprivate", "slave",
                                                     "rslave", "bogus", 5]),
    ("hooks",): st.fixed_dictionaries({}, optional={
        k: st.lists(st.fixed_dictionaries({"path": st.sampled_from(["/bin/true", "/nonexistent",
                                                                    "relative"])},
                                          optional={"timeout": st.sampled_from([-1, 0, 1, 5]),
                                                    "args": st.lists(st.sampled_from(WORDS),
                                                                     max_size=2)}),
                    max_size=2)
        for k in ("prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop")}),
    ("mounts",): st.lists(st.fixed_dictionaries(
        {"destination": st.sampled_from(["/mnt", "/tmp/x", "/proc/sys/net", "/dev/shm", "mnt",
                                         "/../../x", "/sys", "/proc", ""])},
        optional={"type": st.sampled_from(["tmpfs", "bind", "proc", "sysfs", "mqueue", "none",
                                           "devpts", "nosuchfs", 7]),
                  "source": st.sampled_from(["tmpfs", "src", "/nonexistent", "proc", None]),
                  "options": st.lists(st.sampled_from(["ro", "rw", "rbind", "bind", "nosuid",
                                                       "private", "slave", "size=1k", "mode=1777",
                                                       "bogus", "idmap"]), max_size=3)}),
        max_size=2),
    ("linux", "namespaces"): st.lists(st.fixed_dictionaries(
        {"type": st.sampled_from([*S.NAMESPACE_TYPES, "bogus", 3])},
        optional={"path": st.sampled_from(["", "/nonexistent/ns", "relative", "/proc/self/ns/net"])}),
        max_size=8),
    ("linux", "sysctl"): st.dictionaries(
        st.sampled_from(["net.ipv4.ip_forward", "kernel.shmmni", "fs.mqueue.msg_max",
                         "kernel.domainname", "kernel.printk_ratelimit", "vm.swappiness",
                         "kernel.hostname", "net..x", "net/ipv4/ip_forward", "kernel.shmmax"]),
        st.sampled_from(["0", "1", "4096", "", "x", "-1", "99999999999999999999"]), max_size=3),
    ("process", "args"): st.sampled_from([["true"], ["false"], ["/nonexistent"], [], [""],
                                          ["sh", "-c", "exit 3"], "true", [1]]),
}


PROCESS_UNSAFE = {("args",)}
PROCESS_SAFE_VALUES = {("args",): SAFE_VALUES[("process", "args")]}


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], paths: list[tuple[tuple[str, ...], Any]],
            safe: bool = False, max_edits: int = 4,
            unsafe: set[tuple[str, ...]] | None = None,
            safe_values: dict[tuple[str, ...], st.SearchStrategy[Any]] | None = None,
            ) -> dict[str, Any]:
    """``base`` with 1..max_edits fields replaced or removed.  ``safe``: paths in
    ``unsafe`` (default UNSAFE) only get values from ``safe_values`` (SAFE_VALUES)."""
    unsafe = UNSAFE if unsafe is None else unsafe
    safe_values = SAFE_VALUES if safe_values is None else safe_values
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_edits))):
        path, t = draw(st.sampled_from(paths))
        if safe and any(path[:n] in unsafe for n in range(1, len(path) + 1)):
            if path not in safe_values:
                continue
            value = draw(safe_values[path])
        elif draw(st.integers(0, 9)) == 0:
            value = ...  # remove the field
        else:
            value = draw(for_value(t))
        cur: Any = doc
        for key in path[:-1]:
            if not isinstance(cur.get(key), dict):
                cur[key] = {}
            cur = cur[key]
        if value is ...:
            cur.pop(path[-1], None)
        else:
            cur[path[-1]] = value
    return doc


@st.composite
def as_bytes(draw: st.DrawFn, doc: Any, corrupt: bool = True) -> bytes:
    """``doc`` as JSON text; now and then cut short or with a byte changed."""
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 1]))).encode()
    if corrupt and draw(st.integers(0, 9)) == 0:
        pos = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["cut", "byte", "insert"]))
        if how == "cut":
            text = text[:pos]
        else:
            b = bytes([draw(st.integers(0, 255))])
            text = text[:pos] + b + text[pos + (how == "byte"):]
    return text


def process_doc() -> dict[str, Any]:
    return {"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
            "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True}


def resources_doc() -> dict[str, Any]:
    return {"memory": {"limit": 64 << 20}, "cpu": {"shares": 512}, "pids": {"limit": 50}}


def state_doc(cid: str, bundle: str) -> dict[str, Any]:
    """A state.json as create writes it, for a container that is not running."""
    return {"id": cid, "pid": 0, "bundle": bundle, "rootfs": bundle + "/rootfs",
            "created": "2026-01-01T00:00:00Z", "init_start_time": 0, "annotations": {},
            "oci_version": "1.3.0", "status": "created", "config": {"namespaces": {"pid": None}},
            "cgroup": {}, "namespace_paths": {}, "owner": "", "systemd_cgroup": False}


# Values for state.json fields that can never point at a real process or cgroup:
# delete/kill act on what the state names, and the fuzzer must not aim them at the host.
STATE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "pid": st.sampled_from([0, -1, 2**22 + 7, 2**31, 2**63, "1", None, 1.5, True]),
    "init_start_time": st.sampled_from([0, -1, 2**64, "x", None]),
    "cgroup": st.sampled_from([{}, [], "x", None, {"driver": "bogus"},
                               {"driver": "v1", "path": "/nonexistent", "dirs": {}},
                               {"driver": "v1", "dirs": "x"}, {"driver": "v2", "path": 5},
                               {"driver": "v1", "dirs": {"memory": "/nonexistent/wta"},
                                "created": ["/nonexistent/wta"]}]),
    "config": json_values | st.sampled_from([
        {"process": {"args": 5}}, {"namespaces": []}, {"hooks": "x"},
        {"hooks": {"poststop": [{"path": 5}]}}, {"hooks": {"poststart": "x"}},
        {"hooks": {"poststop": [{"path": "/nonexistent/wta-hook", "timeout": 1}]}},
        {"seccomp": {"defaultAction": 5}}]),
    "namespace_paths": json_values,
}

COMMANDS = ["create", "start", "run", "exec", "state", "list", "kill", "delete", "pause",
            "resume", "update", "ps", "events", "features", "spec", "nosuch", ""]
FLAGS = ["--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds", "-d", "--detach",
         "--force", "-f", "--all", "-a", "--format", "-q", "--resources", "-r", "--memory",
         "--cpu-quota", "--pids-limit", "--cpuset-cpus", "--blkio-weight", "--interval",
         "--stats", "--process", "-p", "--cwd", "-e", "--env", "-u", "--user", "-g",
         "--additional-gids", "--cap", "-t", "--tty", "--no-new-privs", "--keep", "--rootless",
         "--", "-", "--help", "-h", "--root", "--log", "--log-format", "--debug", "--debug=false",
         "--systemd-cgroup", "-v", "--version", "--preserve-fds=-1", "--memory=1e400",
         "--interval=0s", "--format=xml", "--no-pivot", "--no-subreaper", "-root"]
ARG_VALUES = ["c", "ctr-1", "../x", "", "-1", "0", "1", "99999999999999999999", "9" * 400,
              "SIGKILL", "KILL", "9", "SIGNOPE", "65", "-9", "1s", "5y", "0.5ms", "table",
              "json", "1g", "1e400", "nan", "-", "/nonexistent", "nonexistent", "x=y",
              "1000:1000", "a:b", "CAP_KILL", "true", "é", "\ud800", "x" * 2000, " ", "\n"]


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    """A command line: global flags, a command, then flags and values in any order."""
    out = draw(st.lists(st.sampled_from(["--debug", "--log-format", "json", "text", "--root",
                                         "--systemd-cgroup", "--rootless", "auto"]), max_size=2))
    out.append(draw(st.sampled_from(COMMANDS)))
    out += draw(st.lists(st.sampled_from(FLAGS) | st.sampled_from(ARG_VALUES) | st.text(max_size=6),
                         max_size=6))
    return out
