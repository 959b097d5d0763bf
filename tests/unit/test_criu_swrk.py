"""criu's RPC: the requests runcgo builds, and the swrk client against a fake criu.

The fake ``criu swrk`` (a script run by this interpreter) plays one scenario on
the socket it is given: a good conversation with notifications and an fd, or a
broken one (garbage, an empty message, a failed reply, the wrong reply type,
an exit without a word).  Every broken one must end in ONE line naming what
criu said, never a traceback.  Needs protobuf and criu's rpc_pb2 (pycriu).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from runcgo.kernel.criu import argv as A
from runcgo.kernel.criu.binary import CriuError

try:
    from runcgo.kernel.criu import rpc as R

    RPC = R.load()
except CriuError as exc:  # no protobuf or no pycriu here
    pytest.skip(f"criu's RPC is not available: {exc}", allow_module_level=True)

from runcgo.kernel.criu import request, swrk

REPO = Path(__file__).resolve().parents[2]

FAKE = """#!{python}
import os, socket, sys
sys.path.insert(0, {repo!r})
from runcgo.kernel.criu import rpc
R = rpc.load()
sk = socket.socket(fileno=int(sys.argv[2]))
mode = os.environ["FAKE_MODE"]
req = R.criu_req.FromString(sk.recv(65536))
with open(os.environ["FAKE_SEEN"], "a") as f:
    f.write(f"req {{R.criu_req_type.Name(req.type)}} pts={{req.opts.orphan_pts_master}}\\n")
def resp(**kw):
    return R.criu_resp(**kw).SerializeToString()
if mode == "good":
    r, w = os.pipe()
    os.write(w, b"master")
    sk.sendmsg([resp(type=R.NOTIFY, success=True,
                     notify=R.criu_notify(script="orphan-pts-master"))],
               [(socket.SOL_SOCKET, socket.SCM_RIGHTS, r.to_bytes(4, sys.byteorder))])
    ack = R.criu_req.FromString(sk.recv(65536))
    sk.send(resp(type=R.NOTIFY, success=True, notify=R.criu_notify(script="post-restore", pid=77)))
    ack2 = R.criu_req.FromString(sk.recv(65536))
    with open(os.environ["FAKE_SEEN"], "a") as f:
        f.write(f"ack {{ack.type == R.NOTIFY and ack.notify_success}} {{ack2.notify_success}}\\n")
    sk.send(resp(type=R.RESTORE, success=True, restore=R.criu_restore_resp(pid=77)))
elif mode == "garbage":
    sk.send(b"\\xff\\xff\\xff\\x01garbage")
elif mode == "empty":
    sk.send(b"")
elif mode == "failed":
    sk.send(resp(type=req.type, success=False, cr_errno=2, cr_errmsg="No such file\\nmore"))
elif mode == "wrong-type":
    sk.send(resp(type=R.DUMP, success=True))
elif mode == "notify-no-script":
    sk.send(resp(type=R.NOTIFY, success=True))
elif mode == "silent":
    sys.stderr.write("criu: something broke early\\n")
    sys.exit(1)
elif mode == "hang":
    import time
    time.sleep(30)
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    exe = tmp_path / "criu"
    exe.write_text(FAKE.format(python=sys.executable, repo=str(REPO)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _req() -> object:
    common = A.Common(image_dir="/img", work_dir="/work")
    return request.restore_request(RPC, A.Restore(common=common, root="/r", pidfile="/p"), 3, 4)


def _call(fake: Path, tmp_path: Path, mode: str, **kw: object) -> swrk.Reply:
    os.environ["FAKE_MODE"] = mode
    os.environ["FAKE_SEEN"] = str(tmp_path / "seen")
    try:
        return swrk.call(str(fake), RPC, _req(), "restore", str(tmp_path / "restore.log"),
                         **kw)  # type: ignore[arg-type]
    finally:
        del os.environ["FAKE_MODE"], os.environ["FAKE_SEEN"]


def test_notifications_fds_acks_and_the_final_reply(fake: Path, tmp_path: Path) -> None:
    got: list[tuple[str, int, bytes]] = []

    def notify(script: str, pid: int, fds: list[int]) -> None:
        got.append((script, pid, b"".join(os.read(fd, 16) for fd in fds)))

    reply = _call(fake, tmp_path, "good", notify=notify)
    assert reply.pid == 77
    assert got == [("orphan-pts-master", 0, b"master"), ("post-restore", 77, b"")]
    assert (tmp_path / "seen").read_text().splitlines() == ["req RESTORE pts=True",
                                                           "ack True True"]


def test_a_raising_notification_aborts_with_its_error(fake: Path, tmp_path: Path) -> None:
    def notify(script: str, pid: int, fds: list[int]) -> None:
        raise CriuError("restore: hook failed")

    with pytest.raises(CriuError, match=r"^restore: hook failed$"):
        _call(fake, tmp_path, "good", notify=notify)


@pytest.mark.parametrize(("mode", "words"), [
    ("garbage", "bad reply from criu swrk: not a criu_resp"),
    ("empty", "criu restore failed: criu swrk exited without an answer"),
    ("failed", "criu restore failed: No such file (log: "),
    ("wrong-type", "bad reply from criu swrk: a DUMP reply to a RESTORE request"),
    ("notify-no-script", "a notification without its script"),
    ("silent", "criu restore failed: criu: something broke early (log: "),
])
def test_broken_conversations_are_one_line(fake: Path, tmp_path: Path, mode: str,
                                           words: str) -> None:
    with pytest.raises(CriuError) as info:
        _call(fake, tmp_path, mode)
    text = str(info.value)
    assert words in text and "\n" not in text, text


def test_criu_log_error_wins_over_the_reply(fake: Path, tmp_path: Path) -> None:
    (tmp_path / "restore.log").write_text(
        "(00.1) Error (criu/tty.c:409): Found slave peer index 0 without correspond master peer\n")
    with pytest.raises(CriuError, match="criu restore failed: Found slave peer index 0"):
        _call(fake, tmp_path, "failed")


def test_no_answer_within_the_timeout(fake: Path, tmp_path: Path) -> None:
    with pytest.raises(CriuError, match="no answer from criu swrk"):
        _call(fake, tmp_path, "hang", timeout=1.0)


def test_missing_criu_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CriuError, match=r"^criu dump: .*No such file"):
        swrk.call(str(tmp_path / "nope"), RPC, _req(), "dump", str(tmp_path / "d.log"))


def test_dump_request_matches_the_command_line() -> None:
    common = A.Common(image_dir="/img", work_dir="/work", tcp_established=True,
                      shell_job=True, manage_cgroups_mode="full",
                      external_mounts={"/data": "/data"})
    req = request.dump_request(RPC, A.Dump(pid=42, common=common, leave_running=True,
                                           parent_dir="../parent", page_server="10.0.0.1:27"),
                               5, 6, "/etc/criu/runc.conf")
    o = req.opts
    assert req.type == RPC.DUMP and o.pid == 42
    assert (o.images_dir_fd, o.work_dir_fd, o.log_file, o.log_level) == (5, 6, "dump.log", 4)
    assert o.tcp_established and o.shell_job and not o.file_locks and not o.ext_unix_sk
    assert o.leave_running and o.track_mem and o.parent_img == "../parent"
    assert o.manage_cgroups_mode == RPC.FULL and o.orphan_pts_master and o.notify_scripts
    assert o.empty_ns == 0x40000000  # CLONE_NEWNET, runc's --empty-ns network
    assert list(o.external) == ["mnt[/data]:/data"]
    assert (o.ps.address, o.ps.port) == ("10.0.0.1", 27)
    assert o.config_file == "/etc/criu/runc.conf"
    assert RPC.criu_req.FromString(req.SerializeToString()) == req


def test_pre_dump_request() -> None:
    common = A.Common(image_dir="/img", work_dir="/img", external_mounts={"/data": "/data"})
    req = request.dump_request(RPC, A.Dump(pid=1, common=common, pre_dump=True,
                                           leave_running=True), 5, 5)
    assert req.type == RPC.PRE_DUMP and req.opts.track_mem
    assert not req.opts.leave_running and not req.opts.external
    assert not req.opts.HasField("config_file")


def test_restore_request_matches_the_command_line() -> None:
    common = A.Common(image_dir="/img", work_dir="/work", external_mounts={"/d": "/srv/d"})
    req = request.restore_request(RPC, A.Restore(common=common, root="/run/x/criu-root",
                                                 pidfile="/unused", cgroup_root="/cr-new",
                                                 inherit_fds={7: "pipe:[123]"},
                                                 lsm_profile="apparmor:p"), 5, 6)
    o = req.opts
    assert req.type == RPC.RESTORE and o.root == "/run/x/criu-root"
    assert o.rst_sibling and o.evasive_devices and o.orphan_pts_master and o.notify_scripts
    assert list(o.external) == ["mnt[/d]:/srv/d"]
    assert [(c.ctrl, c.path) for c in o.cg_root] == [("", "/cr-new")]
    assert [(i.fd, i.key) for i in o.inherit_fd] == [(7, "pipe:[123]")]
    assert o.lsm_profile == "apparmor:p" and o.log_file == "restore.log"


def test_config_file_is_runcs_choice() -> None:
    assert A.config_file(None) == "/etc/criu/runc.conf"
    assert A.config_file({"org.criu.config": "/x.conf"}) == "/x.conf"
    assert A.config_file({"org.criu.config": ""}) is None


def test_rpc_definitions_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNCGO_CRIU_RPC_PB2", "/nonexistent/rpc_pb2.py")
    monkeypatch.delitem(sys.modules, R._NAME)
    with pytest.raises(CriuError, match=r"^criu's RPC definitions not found: .*pycriu"):
        R.load()
