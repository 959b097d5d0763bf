"""OCI hooks: every kind fires, in order, where the spec says, with state on stdin."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from harness import Runcgo


def write_hook(tmp: Path, log: Path) -> str:
    """A host-side hook script that logs its kind, the state it got and where it ran."""
    script = tmp / "hook.sh"
    script.write_text(f"""#!/bin/sh
state=$(cat)
echo "$1 $(echo "$state" | tr -d '\\n') ns=$(readlink /proc/self/ns/mnt) env=$HOOKVAR" >> {log}
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_every_hook_kind_fires_in_order(runcgo: Runcgo, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    hook = write_hook(tmp_path, log)
    # The startContainer hook runs inside the container (path resolved there).
    cid, bundle = runcgo.bundle(["sh", "-c", "echo main >> /tmp/seen"], **{"root.readonly": False})
    (bundle / "rootfs" / "bin" / "inhook").write_text(
        "#!/bin/sh\ncat > /dev/null; echo startContainer >> /tmp/seen\n")
    os.chmod(bundle / "rootfs" / "bin" / "inhook", 0o755)
    mk = lambda kind: {"path": hook, "args": [hook, kind], "env": ["HOOKVAR=v1"]}  # noqa: E731
    runcgo.edit(bundle, "hooks", {
        "prestart": [mk("prestart")],
        "createRuntime": [mk("createRuntime")],
        "createContainer": [mk("createContainer")],
        "startContainer": [{"path": "/bin/inhook"}],
        "poststart": [mk("poststart")],
        "poststop": [mk("poststop")],
    })
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    lines = log.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["prestart", "createRuntime", "createContainer"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    for ln in lines[:2]:  # runtime namespace
        assert f"ns={host_mnt}" in ln and "env=v1" in ln
    assert f"ns={host_mnt}" not in lines[2]  # createContainer: the container's mount ns
    state = json.loads(lines[0].split(" ", 1)[1].rsplit(" ns=", 1)[0])
    assert state["id"] == cid and state["pid"] == pid and state["status"] == "creating"
    assert state["bundle"] == str(bundle)
    runcgo("start", cid, check=True)
    lines = log.read_text().splitlines()
    assert lines[3].split()[0] == "poststart"
    assert json.loads(lines[3].split(" ", 1)[1].rsplit(" ns=", 1)[0])["status"] == "running"
    deadline = time.monotonic() + 5
    while runcgo.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (bundle / "rootfs" / "tmp" / "seen").read_text() == "startContainer\nmain\n"
    runcgo("delete", cid, check=True)
    lines = log.read_text().splitlines()
    assert lines[4].split()[0] == "poststop"
    assert json.loads(lines[4].split(" ", 1)[1].rsplit(" ns=", 1)[0])["status"] == "stopped"


def test_failing_prestart_hook_fails_create_cleanly(runcgo: Runcgo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    bad.chmod(0o755)
    cid, bundle = runcgo.bundle(["true"], hooks={"prestart": [{"path": str(bad)}]})
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert r.returncode == 1
    msg = r.stderr.strip()
    assert len(msg.splitlines()) == 1
    assert str(bad) in msg and "exit status 3" in msg and "boom" in msg
    assert not (runcgo.root / cid).exists()


def test_hook_timeout(runcgo: Runcgo, tmp_path: Path) -> None:
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 20\n")
    slow.chmod(0o755)
    cid, bundle = runcgo.bundle(["true"], hooks={"createRuntime": [{"path": str(slow), "timeout": 1}]})
    t0 = time.monotonic()
    r = runcgo("create", "--bundle", str(bundle), cid)
    assert time.monotonic() - t0 < 10
    assert r.returncode == 1 and "timed out" in r.stderr
    assert not (runcgo.root / cid).exists()


def test_failing_poststart_and_poststop_are_not_fatal(runcgo: Runcgo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\nexit 1\n")
    bad.chmod(0o755)
    cid, bundle = runcgo.bundle(["true"], hooks={"poststart": [{"path": str(bad)}],
                                                 "poststop": [{"path": str(bad)}]})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0
    assert "poststart hook" in r.stderr and "poststop hook" in r.stderr
    assert not (runcgo.root / cid).exists()


def test_prestart_hook_sees_network_namespace(runcgo: Runcgo, tmp_path: Path) -> None:
    """Docker's libnetwork-setkey needs the init's pid to find its netns during prestart."""
    out = tmp_path / "netns"
    hook = tmp_path / "net.sh"
    hook.write_text(f"#!/bin/sh\npid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/')\n"
                    f"readlink /proc/$pid/ns/net > {out}\n")
    hook.chmod(0o755)
    cid, bundle = runcgo.bundle(["sleep", "10"], hooks={"prestart": [{"path": str(hook)}]})
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    assert out.read_text().strip() == os.readlink(f"/proc/{pid}/ns/net")
    assert out.read_text().strip() != os.readlink("/proc/self/ns/net")
    runcgo("delete", "-f", cid, check=True)
    subprocess.run(["true"], check=True)


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_start_container_hook_runs_under_seccomp(runcgo: Runcgo, no_new_privileges: bool) -> None:
    """startContainer hooks run in the container with its seccomp filter applied (runc
    loads it before them either way), and their failure reaches the user."""
    cid, bundle = runcgo.bundle(["true"], **{
        "root.readonly": False,
        "process.noNewPrivileges": no_new_privileges,
        "linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                          "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                          "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]},
        "hooks": {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /made"]}]},
    })
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "startContainer hook /bin/sh: error running hook #0" in r.stderr, r.stderr
    assert "signal: bad system call" in r.stderr
    assert not (bundle / "rootfs" / "made").exists()


def test_create_container_hook_runs_in_the_rootfs(runcgo: Runcgo, tmp_path: Path) -> None:
    """createContainer hooks start in the container's rootfs directory (runc chdirs
    there first), so relative paths in them mean the container's files."""
    seen = tmp_path / "cwd"
    cid, bundle = runcgo.bundle(["cat", "/marker"], **{"root.readonly": False, "hooks": {
        "createContainer": [{"path": "/bin/sh",
                             "args": ["sh", "-c", f"pwd > {seen}; echo here > ./marker"]}]}})
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "here\n"
    assert seen.read_text().strip() == os.path.realpath(bundle / "rootfs")
