"""One request to ``criu swrk`` over its RPC socket, with criu's notifications.

``criu swrk FD`` serves criu's RPC on a SOCK_SEQPACKET socket it inherits: one
``criu_req`` message in, then any number of ``NOTIFY`` replies (each answered
with ``notify_success``; an ``orphan-pts-master`` one carries a pty master as
SCM_RIGHTS), then the final reply for the request.  The caller's ``notify``
callback sees each notification (script name, pid, received fds) and may raise
to make criu abort: the socket is then closed unanswered, criu gives up and
kills what it restored.

Every way this can go wrong is one line naming criu's error: a failed reply
(criu's first ``Error`` from its log, else its errno/message), a reply that
does not parse, criu exiting without answering (its stderr's first line).
"""

from __future__ import annotations

import _socket as socket
import array
import os
import subprocess
import tempfile

from ..._lite import suppress
from .binary import CriuError
from .run import first_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

    Notify = Callable[[str, int, list[int]], None]

MAX_MSG = 10 * 4096   # runc's buffer; a reply filling it is refused as truncated
MAX_FDS = 8


class Reply:
    """criu's final reply: the restored pid (restore), whether it ran (dump)."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.pid = int(resp.restore.pid) if resp.HasField("restore") else 0


def _recv(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, anc, flags, _ = sock.recvmsg(MAX_MSG, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise ValueError(f"a message longer than {MAX_MSG} bytes")
    return msg, list(fds)


def parse_reply(rpc: ModuleType, data: bytes) -> Any:
    """A ``criu_resp`` from bytes, or ValueError (one line) when it isn't one."""
    if not data:
        raise ValueError("an empty message")
    try:
        resp = rpc.criu_resp.FromString(data)
    except Exception as exc:  # protobuf's DecodeError; its module is not imported here
        raise ValueError(f"not a criu_resp ({exc})".splitlines()[0]) from None
    return resp


def failure(rpc: ModuleType, resp: Any, what: str, log_path: str) -> CriuError:
    reason = first_error(log_path)
    if reason is None and resp.cr_errmsg:
        reason = resp.cr_errmsg.strip().splitlines()[0]
    if reason is None and resp.cr_errno:
        reason = f"{os.strerror(resp.cr_errno)} (errno {resp.cr_errno})"
    return CriuError(f"criu {what} failed: {reason or 'no reason given'} (log: {log_path})")


def call(exe: str, rpc: ModuleType, req: Any, what: str, log_path: str, *,
         notify: Notify | None = None, pass_fds: Sequence[int] = (),
         before_exec: Callable[[], None] | None = None, timeout: float | None = None) -> Reply:
    """Run ``criu swrk``, send ``req``, serve notifications, return the final reply.

    ``pass_fds`` keep their numbers in criu (what ``inherit_fd`` entries name);
    criu's stdio is /dev/null, its stderr kept for an error line.
    ``before_exec`` runs in the child (e.g. entering a cgroup).
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        ours.settimeout(timeout)
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    [exe, "swrk", str(theirs.fileno())], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, close_fds=True,
                    pass_fds=(theirs.fileno(), *pass_fds), preexec_fn=before_exec)
            except (OSError, subprocess.SubprocessError) as exc:
                raise CriuError(f"criu {what}: {exc}") from None
            theirs.close()  # criu holds the only other end: its exit is our EOF
            try:
                return _converse(proc, ours, rpc, req, what, log_path, notify, err)
            finally:
                ours.close()  # unanswered: criu aborts (and kills what it restored)
                _wait(proc)
    finally:
        ours.close()
        theirs.close()


def _wait(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _converse(proc: subprocess.Popen[bytes], sock: socket.socket, rpc: ModuleType, req: Any,
              what: str, log_path: str, notify: Notify | None, err: Any) -> Reply:
    def gone(why: str) -> CriuError:
        reason = first_error(log_path)
        if reason is None:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            err.seek(0)
            lines = [ln.strip() for ln in err.read().decode(errors="replace").splitlines()
                     if ln.strip()]
            reason = lines[0] if lines else why
        return CriuError(f"criu {what} failed: {reason} (log: {log_path})")

    try:
        sock.send(req.SerializeToString())
    except OSError as exc:
        raise gone(f"criu swrk did not take the request: {exc.strerror}") from None
    want = req.type
    while True:
        try:
            data, fds = _recv(sock)
        except TimeoutError:
            proc.kill()
            raise CriuError(f"criu {what}: no answer from criu swrk (log: {log_path})") from None
        except (OSError, ValueError) as exc:
            raise CriuError(f"criu {what}: bad reply from criu swrk: {exc}") from None
        if not data and not fds:
            raise gone(f"criu swrk exited without an answer (status {proc.poll()})")
        try:
            try:
                resp = parse_reply(rpc, data)
            except ValueError as exc:
                raise CriuError(f"criu {what}: bad reply from criu swrk: {exc}") from None
            if not resp.success:
                raise failure(rpc, resp, what, log_path)
            if resp.type == rpc.NOTIFY:
                if not resp.HasField("notify"):
                    raise CriuError(f"criu {what}: bad reply from criu swrk: a notification "
                                    "without its script")
                if notify is not None:
                    notify(resp.notify.script, resp.notify.pid, fds)
                ack = rpc.criu_req(type=rpc.NOTIFY, notify_success=True)
                sock.send(ack.SerializeToString())
                continue
            if resp.type != want:
                raise CriuError(f"criu {what}: bad reply from criu swrk: a "
                                f"{rpc.criu_req_type.Name(resp.type)} reply to a "
                                f"{rpc.criu_req_type.Name(want)} request")
            return Reply(resp)
        finally:
            for fd in fds:
                os.close(fd)
