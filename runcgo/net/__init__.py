"""CNI networking for containers run without an engine.

runc leaves networking to its caller; an engine (Docker, containerd, podman)
builds the network namespace's contents itself.  A bundle run by hand, or by an
async orchestrator embedding runcgo, has no such caller, so runcgo can attach
the container to a CNI network: the same plugins Kubernetes and podman use,
called as the CNI specification (1.0.0) says.  The plugins own addresses,
bridges, leases and port maps; runcgo owns the network namespace's lifetime
and the order of ADD / CHECK / DEL.

Modules: ``request`` (what the user asked for), ``conflist`` (finding and
writing network configuration lists), ``plugin`` (running one plugin binary),
``attachment`` (a network attachment: ADD/CHECK/DEL across a list, with
``prevResult`` chaining), ``summary`` (what ``state`` shows).  Nothing here is
imported unless a container asks for a network.
"""
