"""The CRIU driver: find a working criu, turn options into its requests, run it.

Two ways to drive criu, chosen per operation by ``ops/checkpoint.py``:

- the command line (``criu dump`` / ``criu restore``), for most containers: the
  options are flags (``--external mnt[..]``, ``--inherit-fd``,
  ``--manage-cgroups``, ``--empty-ns``, ``--cgroup-root``, ``--status-fd``,
  ``--pidfile``, ``--restore-sibling``) documented in criu(8), no extra
  dependency; the restored pid comes from ``--pidfile``, the restored init
  becomes our own child with ``--restore-detached --restore-sibling``, and the
  cgroup is chosen by starting criu inside the new container's cgroup.
- criu's RPC (``criu swrk`` over a socketpair, what runc always uses), where the
  command line can't do the job: a terminal (``orphan-pts-master``: criu dumps a
  console whose master is outside the tree, and hands the new master back as an
  fd), hooks to run when the restored namespaces exist (the ``setup-namespaces``
  notification), a criu configuration file applied as runc does.  The messages
  are criu's own (``rpc_pb2`` from its Python bindings) on the ``protobuf``
  runtime; neither is imported on any other path.

Modules: ``binary`` (which criu, ``criu check``, version), ``argv`` (options ->
command line), ``run`` (run it, turn its log into one error line), ``rpc``
(load criu's rpc_pb2), ``request`` (options -> RPC request), ``swrk`` (one RPC
conversation with notifications), ``root`` (the rootfs bind criu restores
into), ``mountpoints`` (mount points made again before a restore).  Nothing here
knows the container lifecycle: ``ops/checkpoint.py`` composes these.
"""
