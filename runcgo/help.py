"""Help pages: ``runcgo -h``, ``runcgo COMMAND -h``, ``runcgo help [COMMAND]``.

Laid out as runc's (NAME / USAGE / OPTIONS), because scripts and runc's own
test suite read them that way: line 2 names the command, and says which runc
command it stands in for.  Loaded only when help is asked for.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .flags import Parser

# command -> (arguments in the usage line, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "checkpoint": ("[command options] <container-id>", "checkpoint a running container with CRIU"),
    "create": ("[command options] <container-id> [bundle]", "create a container; its init waits for start"),
    "delete": ("[command options] <container-id>...", "delete a container and everything it holds"),
    "events": ("[command options] <container-id>", "print container events: OOM kills and resource statistics"),
    "exec": ("[command options] <container-id> <command> [args...]  || -p process.json <container-id>",
             "run a new process inside a running container"),
    "features": ("", "print the features this runtime supports, as JSON"),
    "kill": ("[command options] <container-id> [signal]",
             "send a signal (default SIGTERM) to the container's init, or with --all to every process"),
    "list": ("[command options]", "list the containers under --root"),
    "pause": ("<container-id>", "freeze every process of a container"),
    "ps": ("[command options] <container-id> [ps options]", "show the processes running in a container"),
    "restore": ("[command options] <container-id>", "restore a container from a CRIU checkpoint"),
    "resume": ("<container-id>", "thaw a paused container"),
    "run": ("[command options] <container-id> [bundle]", "create and start a container, then wait for it"),
    "spec": ("[command options]", "write a default config.json into the bundle directory"),
    "start": ("<container-id>", "start the user's process in a created container"),
    "state": ("<container-id>", "print the state of a container as JSON"),
    "update": ("[command options] <container-id>", "change the resource limits of a container"),
}

# long flag -> what it does (shared by every command that has the flag)
FLAGS: dict[str, str] = {
    "--bundle": "the bundle directory (config.json and rootfs); default: the current directory",
    "--console-socket": "AF_UNIX socket that receives the pty master of a terminal container",
    "--pid-file": "write the process's host pid to this file",
    "--no-pivot": "chroot-style root (MS_MOVE) instead of pivot_root, for a rootfs on a ramdisk",
    "--no-new-keyring": "keep the caller's session keyring instead of a new one",
    "--preserve-fds": "pass N more file descriptors (3 .. 3+N-1) to the process (default: 0)",
    "--pidfd-socket": "AF_UNIX socket that receives a pidfd of the process",
    "--network": "attach the container to this CNI network (runcgo0: the default, written on first use)",
    "--publish": "publish a port: [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp], repeatable (needs --network)",
    "--ip": "ask the network's IPAM for this address (needs --network)",
    "--cni-conf-dir": "where CNI configuration lists are (default: $NETCONFPATH or /etc/cni/net.d)",
    "--cni-path": "where CNI plugins are, ':'-separated (default: $CNI_PATH or /usr/lib/cni:/opt/cni/bin)",
    "--detach": "return once the process is started instead of waiting for it",
    "--keep": "keep the container's state after it exits",
    "--no-subreaper": "do not become the subreaper of the container's orphans",
    "--force": "kill a container that is still running (SIGKILL) before deleting it",
    "--all": "signal every process of the container, not only its init",
    "--format": "output format: table or json (default: table)",
    "--quiet": "print only the container IDs",
    "--rootless": "write a config for a rootless container (user namespace, host /sys bound)",
    "--process": "a process.json describing the process to run",
    "--tty": "allocate a pseudo-terminal (run: even when config.json says terminal: false)",
    "--cwd": "working directory inside the container",
    "--env": "set an environment variable (NAME=value), repeatable",
    "--user": "UID[:GID] to run as",
    "--additional-gids": "an additional group id, repeatable",
    "--cap": "add a capability to the process's sets, repeatable",
    "--no-new-privs": "set no_new_privs for the process",
    "--ignore-paused": "allow exec in a paused container",
    "--process-label": "SELinux label for the process",
    "--apparmor": "AppArmor profile for the process",
    "--cgroup": "run in an existing sub-cgroup: [controller:]path, repeatable on cgroup v1",
    "--resources": "JSON file with linux.resources to apply, or - for standard input",
    "--interval": "interval between statistics (default: 5s)",
    "--stats": "print the statistics once and exit",
    "--image-path": "directory of the CRIU image files",
    "--work-path": "directory for CRIU's work files and logs",
    "--parent-path": "previous images of a pre-dump, relative to --image-path",
    "--leave-running": "leave the container running after the checkpoint",
    "--pre-dump": "dump memory only and leave the container running",
    "--manage-cgroups-mode": "CRIU cgroups mode: soft (default), full, strict, ignore",
    "--tcp-established": "checkpoint/restore established TCP connections",
    "--ext-unix-sk": "allow external unix sockets",
    "--shell-job": "allow a process attached to a shell's terminal",
    "--file-locks": "checkpoint/restore file locks",
    "--lazy-pages": "restore memory pages lazily through userfaultfd",
    "--auto-dedup": "deduplicate memory images automatically",
    "--empty-ns": "create this namespace but do not restore its properties",
    "--page-server": "ADDRESS:PORT of a CRIU page server",
    "--status-fd": "CRIU writes \\0 to this fd once lazy pages are ready (default: -1)",
    "--lsm-profile": "LSM profile for the restored process, TYPE:NAME",
    "--lsm-mount-context": "LSM mount context for the restored container",
    "--memory": "memory limit in bytes (k, m, g suffixes)",
    "--memory-swap": "memory + swap limit in bytes; -1 for unlimited swap",
    "--memory-reservation": "memory soft limit in bytes",
    "--kernel-memory": "kernel memory limit (deprecated, ignored by current kernels)",
    "--kernel-memory-tcp": "kernel TCP buffer limit (deprecated, ignored by current kernels)",
    "--cpu-shares": "CPU shares, the relative weight against other containers (also --cpu-share)",
    "--cpu-quota": "CPU time allowed per period, in microseconds (CFS quota)",
    "--cpu-period": "CFS period in microseconds",
    "--cpu-rt-period": "realtime period in microseconds",
    "--cpu-rt-runtime": "realtime runtime per period in microseconds",
    "--cpu-idle": "1: the cgroup gets the SCHED_IDLE policy",
    "--cpuset-cpus": "CPUs the container may run on (0-3,5)",
    "--cpuset-mems": "memory nodes the container may use",
    "--pids-limit": "maximum number of processes",
    "--blkio-weight": "block I/O weight, 10 to 1000",
    "--l3-cache-schema": "Intel RDT L3 cache schema (needs resctrl)",
    "--mem-bw-schema": "Intel RDT memory bandwidth schema (needs resctrl)",
}


def _default_root() -> str:
    """What --root defaults to for this caller ($XDG_RUNTIME_DIR/runcgo when rootless)."""
    from .kernel.rootless import default_root
    from .state import DEFAULT_ROOT

    return default_root(DEFAULT_ROOT)[0]


def main_help() -> str:
    rows = "\n".join(f"   {name:<11} {summary}" for name, (_, summary) in sorted(COMMANDS.items()))
    return f"""NAME:
   runcgo - OCI container runtime in Python, a drop-in for: runc - Open Container Initiative runtime

USAGE:
   runcgo [global options] command [command options] [arguments...]

COMMANDS:
{rows}
   help        show the commands, or the help of one command

GLOBAL OPTIONS:
   --root value        state directory (default: {_default_root()})
   --log value         log file (default: standard error)
   --log-format value  text or json (default: text)
   --debug             also log debug messages
   --systemd-cgroup    use the systemd cgroup driver (cgroupsPath is slice:prefix:name)
   --rootless value    true, false or auto (default: auto)
   --criu value        CRIU binary (default: criu)
   --help, -h          show help
   --version, -v       print the version
"""


def command_help(cmd: str, parser: Parser | None = None) -> str:
    """Help for one command; ``parser`` lists the flags it really accepts."""
    args, summary = COMMANDS.get(cmd, ("", ""))
    text = f"NAME:\n   runcgo {cmd} - {summary} (as runc {cmd})\n\nUSAGE:\n   runcgo {cmd} {args}\n"
    if parser is not None and parser.order:
        rows = []
        for opt in parser.order:
            long = max(opt.names, key=len)
            names = ", ".join(sorted(opt.names, key=len, reverse=True))
            value = "" if opt.action == "store_true" else " value"
            rows.append((f"{names}{value}", FLAGS.get(long, "")))
        width = max(len(r[0]) for r in rows) + 2
        text += "\nOPTIONS:\n" + "".join(f"   {n:<{width}}{h}\n" for n, h in rows)
    return text


def unknown_topic(cmd: str) -> str:
    return f"No help topic for {cmd!r}: not a runcgo command (see `runcgo --help`)"
