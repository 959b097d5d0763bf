"""criu's command lines for runc's checkpoint/restore flags (no root, no criu)."""

from __future__ import annotations

import os

import pytest

from runcgo import spec as S
from runcgo.errors import InvalidArgument
from runcgo.kernel.criu import argv as A
from runcgo.kernel.criu.run import first_error
from runcgo.ops.checkpoint import CriuOptions, _common, check_parent_path, external_mounts


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_dump_maps_runc_flags() -> None:
    common = _common(CriuOptions(tcp_established=True, shell_job=True, file_locks=True,
                                 manage_cgroups_mode="full", empty_ns="network"),
                     "/img", "/work", {"/data": "/data", "/sys/fs/cgroup": "/cg/x"})
    argv = A.dump_argv("/usr/sbin/criu", A.Dump(pid=42, common=common, leave_running=True,
                                                 parent_dir="../parent", status_fd=5))
    assert argv[:4] == ["/usr/sbin/criu", "dump", "--tree", "42"]
    for flag in ("--tcp-established", "--shell-job", "--file-locks", "--leave-running",
                 "--track-mem", "--manage-cgroups=full"):
        assert flag in argv
    assert "--ext-unix-sk" not in argv and "--auto-dedup" not in argv
    assert _pairs(argv, "--empty-ns") == ["net"]
    assert _pairs(argv, "--external") == ["mnt[/data]:/data", "mnt[/sys/fs/cgroup]:/sys/fs/cgroup"]
    assert _pairs(argv, "--prev-images-dir") == ["../parent"]
    assert _pairs(argv, "--status-fd") == ["5"]
    assert _pairs(argv, "--images-dir") == ["/img"] and _pairs(argv, "--work-dir") == ["/work"]


def test_pre_dump_tracks_memory_and_never_leaves_running_flag() -> None:
    common = _common(CriuOptions(), "/img", "/img", {"/data": "/data"})
    argv = A.dump_argv("criu", A.Dump(pid=1, common=common, pre_dump=True, leave_running=True))
    assert argv[1] == "pre-dump" and "--track-mem" in argv
    assert "--leave-running" not in argv and "--external" not in argv


def test_restore_maps_mounts_cgroup_and_pipes() -> None:
    common = _common(CriuOptions(), "/img", "/work", {"/data": "/srv/data"})
    argv = A.restore_argv("criu", A.Restore(common=common, root="/run/x/criu-root",
                                            pidfile="/run/x/criu.pid", cgroup_root="/cr-new",
                                            inherit_fds={7: "pipe:[123]"},
                                            lsm_profile="apparmor:p"))
    assert argv[1] == "restore"
    for flag in ("--restore-detached", "--restore-sibling", "--evasive-devices"):
        assert flag in argv
    assert _pairs(argv, "--root") == ["/run/x/criu-root"]
    assert _pairs(argv, "--external") == ["mnt[/data]:/srv/data"]
    assert _pairs(argv, "--cgroup-root") == ["/cr-new"]
    assert _pairs(argv, "--inherit-fd") == ["fd[7]:pipe:[123]"]
    assert _pairs(argv, "--lsm-profile") == ["apparmor:p"] and "--lsm-mount-context" not in argv
    ignore = _common(CriuOptions(manage_cgroups_mode="ignore"), "/i", "/i", {})
    argv = A.restore_argv("criu", A.Restore(common=ignore, root="/r", pidfile="/p",
                                            cgroup_root="/cr-new"))
    assert "--cgroup-root" not in argv


@pytest.mark.parametrize(("field", "value"), [("manage_cgroups_mode", "sometimes"),
                                              ("empty_ns", "pid")])
def test_bad_values_name_the_flag(field: str, value: str) -> None:
    with pytest.raises(InvalidArgument, match=f"--{field.replace('_', '-')} '{value}'"):
        _common(CriuOptions(**{field: value}), "/i", "/i", {})


def test_external_mounts_are_binds_and_a_bound_cgroup_dir() -> None:
    spec = S.Spec(oci_version="1.0.2", mounts=[
        S.Mount(destination="/proc", type="proc", source="proc"),
        S.Mount(destination="/data", type="bind", source="/srv/data", options=["rbind"]),
        S.Mount(destination="/rel", type="none", source="rel", options=["bind"]),
        S.Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup"),
    ], linux=S.Linux(namespaces=[S.LinuxNamespace(type="mount")]))
    v2 = {"driver": "v2", "path": "/cr-x", "dir": "/sys/fs/cgroup/cr-x"}
    got = external_mounts(spec, "/b", v2)
    assert got == {"/data": "/srv/data", "/rel": "/b/rel", "/sys/fs/cgroup": "/sys/fs/cgroup/cr-x"}
    # v1: the tmpfs is dumped; each hierarchy's bind below it is external (runc's
    # getCgroupMounts); the systemd driver records the same under "inner"
    v1 = {"driver": "v1", "path": "/cr-x", "dirs": {
        "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/cr-x", "unified": "/sys/fs/cgroup/unified/cr-x",
        "pids": "/sys/fs/cgroup/pids/cr-x"}}
    want_v1 = {"/data": "/srv/data", "/rel": "/b/rel",
               "/sys/fs/cgroup/cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/cr-x",
               "/sys/fs/cgroup/pids": "/sys/fs/cgroup/pids/cr-x",
               "/sys/fs/cgroup/unified": "/sys/fs/cgroup/unified/cr-x"}
    assert external_mounts(spec, "/b", v1) == want_v1
    assert external_mounts(spec, "/b", {"driver": "systemd", "inner": v1}) == want_v1
    assert external_mounts(spec, "/b", None) == {"/data": "/srv/data", "/rel": "/b/rel"}
    spec.linux.namespaces.append(S.LinuxNamespace(type="cgroup"))  # type: ignore[union-attr]
    assert not any(k.startswith("/sys/fs/cgroup") for k in external_mounts(spec, "/b", v2))
    assert not any(k.startswith("/sys/fs/cgroup") for k in external_mounts(spec, "/b", v1))


def test_lazy_pages_serve_on_the_page_server_address() -> None:
    """runc's --lazy-pages --page-server ADDR:PORT: criu listens there for the lazy
    restore (no --page-server, which would make it connect to one)."""
    lazy = _common(CriuOptions(lazy_pages=True), "/img", "/img", {})
    argv = A.dump_argv("criu", A.Dump(pid=1, common=lazy, page_server="0.0.0.0:27277",
                                      status_fd=9))
    assert "--lazy-pages" in argv and "--page-server" not in argv
    assert _pairs(argv, "--address") == ["0.0.0.0"] and _pairs(argv, "--port") == ["27277"]
    eager = _common(CriuOptions(), "/img", "/img", {})
    argv = A.dump_argv("criu", A.Dump(pid=1, common=eager, page_server="10.1.1.1:27"))
    assert "--page-server" in argv and _pairs(argv, "--address") == ["10.1.1.1"]


def test_a_symlinked_destination_is_keyed_where_it_points(tmp_path: os.PathLike[str]) -> None:
    """runc's checkpoint.bats: /conf -> /real/conf in the rootfs; the mount is at
    /real/conf, and that is the key criu finds in the mount table."""
    rootfs = os.path.join(os.fspath(tmp_path), "rootfs")
    os.makedirs(os.path.join(rootfs, "real", "conf"))
    os.symlink("/real/conf", os.path.join(rootfs, "conf"))
    os.symlink("../../../../etc", os.path.join(rootfs, "bad"))
    spec = S.Spec(oci_version="1.0.2", mounts=[
        S.Mount(destination="/conf", type="none", source=".", options=["bind"]),
        S.Mount(destination="/bad/x", type="bind", source="/srv"),
    ])
    got = external_mounts(spec, "/b", None, rootfs)
    # a link climbing out of the rootfs is not followed: the destination stays as given
    assert got == {"/real/conf": "/b/.", "/bad/x": "/srv"}


def test_joined_network_and_pid_namespaces_are_external(tmp_path: os.PathLike[str]) -> None:
    from runcgo.ops.checkpoint import _dump_external_ns, external_namespaces

    ns = os.path.join(os.fspath(tmp_path), "netns")
    open(ns, "w").close()
    spec = S.Spec(oci_version="1.0.2", linux=S.Linux(namespaces=[
        S.LinuxNamespace(type="network", path=ns), S.LinuxNamespace(type="pid"),
        S.LinuxNamespace(type="ipc", path=ns)]))
    assert _dump_external_ns(spec) == [f"net[{os.stat(ns).st_ino}]:extRootNetNS"]
    assert external_namespaces(spec) == {"extRootNetNS": ns}
    common = _common(CriuOptions(), "/img", "/img", {})
    argv = A.dump_argv("criu", A.Dump(pid=1, common=common, external=_dump_external_ns(spec)))
    assert _pairs(argv, "--external") == [f"net[{os.stat(ns).st_ino}]:extRootNetNS"]
    os.unlink(ns)
    with pytest.raises(InvalidArgument, match="namespace network path"):
        _dump_external_ns(spec)


def test_parent_path_is_relative_to_the_image(tmp_path: os.PathLike[str]) -> None:
    base = os.fspath(tmp_path)
    os.mkdir(os.path.join(base, "parent"))
    check_parent_path(os.path.join(base, "final"), "../parent")  # final need not exist yet
    with pytest.raises(InvalidArgument, match="must be relative"):
        check_parent_path(base, "/abs")
    with pytest.raises(InvalidArgument, match="no such file"):
        check_parent_path(base, "missing")


def test_first_error_is_the_cause(tmp_path: os.PathLike[str]) -> None:
    log = os.path.join(os.fspath(tmp_path), "dump.log")
    with open(log, "w") as f:
        f.write("(00.1) Warn  (criu/x.c:1): noise\n"
                "(00.1) Error (criu/tun.c:85): tun: Unable to create tun: No such file\n"
                "(00.1) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: "
                "Operation not permitted\n"
                "(00.2) Error (criu/files-reg.c:1710): Can't lookup mount=36 for fd=1\n"
                "(00.3) Error (criu/cr-dump.c:2053): Dumping FAILED.\n")
    assert first_error(log) == "Can't lookup mount=36 for fd=1"
    assert first_error(log + ".missing") is None
