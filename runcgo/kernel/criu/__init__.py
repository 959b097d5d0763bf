"""The CRIU driver: find a working criu, turn options into its command line, run it.

How runcgo talks to CRIU, and why the command line rather than ``criu swrk``:

- runc speaks criu's RPC (``criu swrk`` over a socketpair, protobuf messages from
  criu's ``rpc.proto``).  From Python that needs the ``protobuf`` package and
  criu's generated ``rpc_pb2`` (Debian's ``pycriu``, built for the system
  Python, not for the project's interpreter).  That is a dependency and a
  version pairing for every user, to reach features the CLI has too.
- ``criu dump`` / ``criu restore`` take the same options as flags
  (``--external mnt[..]``, ``--inherit-fd``, ``--manage-cgroups``,
  ``--empty-ns``, ``--cgroup-root``, ``--status-fd``, ``--pidfile``,
  ``--restore-sibling``), they are documented in criu(8), and what runc gets from
  RPC notifications is reachable without them: the restored pid comes from
  ``--pidfile``, the restored init becomes our own child with
  ``--restore-detached --restore-sibling``, and the cgroup is chosen by starting
  criu inside the new container's cgroup and naming it with ``--cgroup-root``.
  crun drives criu the same way (through libcriu, which is the RPC again, but it
  needs no notification callbacks for the same feature set).
- What the CLI cannot do: hand a terminal's master fd back (``orphan-pts-master``
  is RPC-only), so terminal containers are refused with one line.

Modules: ``binary`` (which criu, ``criu check``, version), ``argv`` (options ->
arguments), ``run`` (run it, turn its log into one error line).  Nothing here
knows the container lifecycle: ``ops/checkpoint.py`` composes these.
"""
