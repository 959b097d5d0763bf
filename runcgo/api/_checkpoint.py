"""``Container.checkpoint`` and ``Runtime.restore``: CRIU from async code.

Both run in a fork server, like every op that forks: criu is started there (the
restore places it in the new container's cgroup before it execs, which needs a
single-threaded process), and with ``--restore-sibling`` the restored init
becomes the fork server's own child, so it is reaped there and its exit status
reaches :meth:`Container.wait` as for a created container.

A restore that is cancelled once criu has started still completes in the fork
server (the request is shielded, as every call is), and is then undone here:
killed and deleted, so no half-restored container, cgroup or mount remains.
The images are the CLI's: a container checkpointed by ``runcgo checkpoint`` or
by one Runtime is restored by another, under any state root and ID.

The methods are attached to the classes in ``_runtime.py``; the fork-server
half is ``fork_server_ops``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing, anyio: not imported by the fork server, which loads this module too
if TYPE_CHECKING:
    from typing import Any

    from ._runtime import Container, Runtime, Stdio


def _criu_args(image_path: str | os.PathLike[str], work_path: str | os.PathLike[str] | None,
               flags: dict[str, Any]) -> dict[str, Any]:
    return {"image_path": os.path.abspath(image_path),
            "work_path": os.path.abspath(work_path) if work_path else None, **flags}


async def checkpoint(self: Container, image_path: str | os.PathLike[str], *,
                     work_path: str | os.PathLike[str] | None = None,
                     leave_running: bool = False, pre_dump: bool = False,
                     parent_path: str | None = None, tcp_established: bool = False,
                     ext_unix_sk: bool = False, shell_job: bool = False,
                     file_locks: bool = False, manage_cgroups_mode: str | None = None,
                     empty_ns: str | None = None, auto_dedup: bool = False,
                     criu: str = "criu") -> None:
    """Checkpoint the container into ``image_path`` (``runcgo checkpoint``).

    Afterwards the container is gone (deleted; :meth:`wait` reports the SIGKILL)
    unless ``leave_running`` or ``pre_dump``.  ``parent_path`` is relative to
    ``image_path`` (a pre-dump's directory).  Raises :class:`RuncgoError` with
    criu's own reason in one line; the container is then left as it was.
    """
    flags = {"tcp_established": tcp_established, "ext_unix_sk": ext_unix_sk,
             "shell_job": shell_job, "file_locks": file_locks,
             "manage_cgroups_mode": manage_cgroups_mode, "empty_ns": empty_ns,
             "auto_dedup": auto_dedup}
    # Not the control fork server: a dump takes seconds, quick ops must not queue.
    await self.runtime._client().call("checkpoint", cid=self.id, criu_opts=_criu_args(image_path, work_path, flags),
                     leave_running=leave_running, pre_dump=pre_dump, parent_path=parent_path,
                     criu=criu)


async def restore(self: Runtime, container_id: str, bundle: str | os.PathLike[str],
                  image_path: str | os.PathLike[str], *,
                  work_path: str | os.PathLike[str] | None = None, stdio: Stdio = "inherit",
                  pid_file: str | None = None, tcp_established: bool = False,
                  ext_unix_sk: bool = False, shell_job: bool = False,
                  file_locks: bool = False, manage_cgroups_mode: str | None = None,
                  empty_ns: str | None = None, auto_dedup: bool = False,
                  console: bool = False, criu: str = "criu") -> Container:
    """Restore a checkpoint as a running container ``container_id`` of this Runtime
    (``runcgo restore --detach``): an ordinary :class:`Container` (wait, exec,
    kill, events, delete).  ``stdio="pipe"`` re-attaches the checkpointed init's
    stdio pipes to fresh ones (``.stdin``/``.stdout``/``.stderr``);
    ``console=True`` (a ``process.terminal`` container) gives the restored
    terminal's new pty master as ``.stdout``/``.stdin``, as :meth:`create` does."""

    from ._runtime import _with_pipes

    flags = {"tcp_established": tcp_established, "ext_unix_sk": ext_unix_sk,
             "shell_job": shell_job, "file_locks": file_locks,
             "manage_cgroups_mode": manage_cgroups_mode, "empty_ns": empty_ns,
             "auto_dedup": auto_dedup}
    client = self._client()
    result, fds, ours = await _with_pipes(
        "null" if console else stdio, lambda theirs, mode: client.call(
            "restore", theirs, cid=container_id, bundle=os.path.abspath(bundle),
            criu_opts=_criu_args(image_path, work_path, flags), stdio=mode,
            pid_file=pid_file and os.path.abspath(pid_file), criu=criu, console=console))
    return await self._adopt(result, fds, ours)


# -- the fork server's half ------------------------------------------------------


def fork_server_ops(server: Any) -> dict[str, Any]:
    """``checkpoint`` and ``restore`` request handlers for a ForkServer."""

    def op_checkpoint(req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        from ..ops import drive
        from ..ops.checkpoint import CheckpointOptions, CriuOptions
        from ..ops.checkpoint import checkpoint as do_checkpoint

        opts = CheckpointOptions(criu=CriuOptions(**req["criu_opts"]),
                                 leave_running=bool(req.get("leave_running")),
                                 pre_dump=bool(req.get("pre_dump")),
                                 parent_path=req.get("parent_path"))
        drive(do_checkpoint(server.store, req["cid"], opts, req.get("criu") or "criu"))
        return {}, []

    def op_restore(req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        from .._record import asdict
        from ..ops.checkpoint import CriuOptions, RestoreOptions, restore_with_console
        from ..ops.create import write_pid_file

        console = bool(req.get("console"))
        opts = RestoreOptions(criu=CriuOptions(**req["criu_opts"]), bundle=req["bundle"],
                              detach=True, systemd_cgroup=server.systemd_cgroup,
                              relay_terminal=console)
        with server.stdio(req.get("stdio", "inherit"), fds):
            st, master = restore_with_console(server.store, req["cid"], opts,
                                              req.get("criu") or "criu")
        server.track(st.pid)  # criu's sibling: our child, reaped and reported by us
        if console and master is None:
            from ..errors import ConfigError
            from ..ops import drive
            from ..ops.delete import delete

            drive(delete(server.store, req["cid"], force=True))
            raise ConfigError("console=True needs process.terminal: true in config.json",
                              "$.process.terminal")
        if not console and master is not None:
            os.close(master)
            master = None
        if req.get("pid_file"):
            write_pid_file(req["pid_file"], st.pid)
        return {"state": asdict(st)}, [master] if master is not None else []

    return {"checkpoint": op_checkpoint, "restore": op_restore}
