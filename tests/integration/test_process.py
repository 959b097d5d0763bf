"""The container process: identity, env, cwd, rlimits, hostname, caps, namespaces."""

from __future__ import annotations

import os

from harness import Runcgo


def run_out(runcgo: Runcgo, args: list[str], **edits) -> str:
    cid, bundle = runcgo.bundle(args, **edits)
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_hostname_and_domainname(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
                  hostname="box1", domainname="example.org")
    assert out.split() == ["box1", "example.org"]
    assert os.uname().nodename != "box1"


def test_env_cwd_user_groups_umask(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "echo $FOO:$HOME; pwd; id -u; id -g; id -G; umask"],
                  **{"process.env": ["PATH=/bin", "FOO=bar"], "process.cwd": "/home/user",
                     "process.user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534],
                                      "umask": 0o027}})
    lines = out.splitlines()
    assert lines[0] == "bar:/home/user"  # HOME comes from the container's /etc/passwd
    assert lines[1] == "/home/user"
    assert lines[2:4] == ["1000", "1000"]
    assert sorted(lines[4].split()) == ["1000", "5", "65534"]
    assert lines[5] == "0027"


def test_cwd_is_created_when_missing(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["pwd"], **{"process.cwd": "/work/here"})
    assert out.strip() == "/work/here"


def test_rlimits(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"],
                  **{"process.rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 777},
                                         {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]})
    assert out.split() == ["512", "777", "0"]


def test_no_new_privileges_and_default_caps(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["grep", "-E", "^(NoNewPrivs|CapEff|CapBnd|CapPrm|CapInh|CapAmb)",
                           "/proc/self/status"])
    fields = dict(line.split(":\t") for line in out.splitlines())
    # runcgo spec's default: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10)
    want = hex((1 << 29) | (1 << 5) | (1 << 10))[2:].rjust(16, "0")
    assert fields["CapEff"] == fields["CapBnd"] == fields["CapPrm"] == want
    assert fields["CapInh"] == fields["CapAmb"] == "0" * 16
    assert fields["NoNewPrivs"] == "1"


def test_oom_score_adj(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["cat", "/proc/self/oom_score_adj"], **{"process.oomScoreAdj": 500})
    assert out.strip() == "500"


def test_namespaces_are_new(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo.edit(bundle, "linux.namespaces", [  # the default (as runc's) has no cgroup ns
        {"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid = runcgo.state(cid)["pid"]
    for ns in ("pid", "mnt", "net", "ipc", "uts", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user")
    runcgo("delete", "-f", cid, check=True)


def test_join_existing_namespace_by_path(runcgo: Runcgo) -> None:
    a, ba = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(ba), a, check=True)
    apid = runcgo.state(a)["pid"]
    b, bb = runcgo.bundle(["sleep", "30"])
    runcgo.edit(bb, "linux.namespaces", [
        {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
        {"type": "network", "path": f"/proc/{apid}/ns/net"}])
    runcgo("run", "-d", "--bundle", str(bb), b, check=True)
    bpid = runcgo.state(b)["pid"]
    assert os.readlink(f"/proc/{bpid}/ns/net") == os.readlink(f"/proc/{apid}/ns/net")
    assert os.readlink(f"/proc/{bpid}/ns/uts") != os.readlink(f"/proc/{apid}/ns/uts")
    runcgo("delete", "-f", b, check=True)
    runcgo("delete", "-f", a, check=True)


def test_loopback_is_up_in_new_netns(runcgo: Runcgo) -> None:
    out = run_out(runcgo, ["sh", "-c", "cat /sys/class/net/lo/operstate; ls /sys/class/net"])
    lines = out.split()
    assert lines[0] in ("unknown", "up")
    assert lines[1:] == ["lo"]


def test_user_namespace_with_mappings(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; sleep 30"])
    import json
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # the mapped root (host uid 100000) must be able to reach the bundle
    for parent in [bundle, *bundle.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    out_path = bundle / "out"
    with open(out_path, "w") as out:
        import subprocess

        from harness import runcgo_cmd
        subprocess.run([*runcgo_cmd(), "--root", str(runcgo.root), "run", "-d", "--bundle",
                        str(bundle), cid], stdout=out, stderr=out, check=True,
                       stdin=subprocess.DEVNULL)
    pid = runcgo.state(cid)["pid"]
    # From the host: the init runs as host uid 100000 in its own user namespace
    with open(f"/proc/{pid}/status") as f:
        uid_line = next(ln for ln in f if ln.startswith("Uid:"))
    assert uid_line.split()[1] == "100000"
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", "100000", "65536"]
    runcgo("delete", "-f", cid, check=True)
    lines = out_path.read_text().splitlines()
    assert lines[0] == "0"


def test_preserve_fds(runcgo: Runcgo, tmp_path) -> None:
    import subprocess

    from harness import runcgo_cmd
    cid, bundle = runcgo.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd"])
    data = tmp_path / "data"
    data.write_text("passed-through\n")
    # The caller's fd 3 (opened by a shell redirection) is the one --preserve-fds 1 keeps.
    r = subprocess.run(["sh", "-c", f'exec 3<"{data}"; exec "$@"', "sh", *runcgo_cmd(), "--root",
                        str(runcgo.root), "run", "--preserve-fds", "1", "--bundle", str(bundle), cid],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "passed-through"
    assert lines[1:] == ["0", "1", "2", "3", "4"]  # 4: ls's own directory fd


def test_time_namespace_offsets(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["cat", "/proc/uptime"])
    import json
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = runcgo("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert float(r.stdout.split()[0]) - host > 86400 * 364


def test_session_keyring_per_container(runcgo: Runcgo) -> None:
    cid, bundle = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    with open("/proc/keys") as f:
        assert f"_ses.{cid}" in f.read()  # its own session keyring, named like runc's
    runcgo("delete", "-f", cid, check=True)
    cid2, bundle2 = runcgo.bundle(["sleep", "30"])
    runcgo("run", "-d", "--no-new-keyring", "--bundle", str(bundle2), cid2, check=True)
    with open("/proc/keys") as f:
        assert f"_ses.{cid2}" not in f.read()
    runcgo("delete", "-f", cid2, check=True)


def test_features_json(runcgo: Runcgo) -> None:
    import json
    r = runcgo("features", check=True)
    f = json.loads(r.stdout)
    assert f["ociVersionMax"] == "1.3.0"
    assert "CAP_CHECKPOINT_RESTORE" in f["linux"]["capabilities"]
    assert set(f["linux"]["namespaces"]) >= {"pid", "mount", "user", "time", "cgroup"}
