"""runc-compatible command line: parse, dispatch to ops, print errors, exit codes.

Only the global flags are parsed by hand; each command builds just its own
argparse parser, so a Docker call pays for one small parser, not twenty.
"""

from __future__ import annotations

import os
import sys

from . import _json as json
from . import log
from ._lite import SimpleNamespace, suppress
from .errors import InvalidArgument, RuncgoError, one_line
from .flags import REMAINDER, Parser
from .state import DEFAULT_ROOT, Store
from .version import version_text

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


_GLOBAL_VALUE = {"--root", "--log", "--log-format", "--rootless", "--criu"}
_GLOBAL_BOOL = {"--debug", "--systemd-cgroup"}


class Globals:
    def __init__(self) -> None:
        self.root = ""  # "": not given, see _default_root
        self.log: str | None = None
        self.log_format = "text"
        self.debug = False
        self.systemd_cgroup = False
        self.rootless = "auto"
        self.criu = "criu"


def _parse_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    g = Globals()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=")
        if name.startswith("-") and not name.startswith("--") and len(name) > 2:
            name = "-" + name  # Go's flag package accepts -root as well as --root
        if name in _GLOBAL_VALUE:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: {name}")
                value = argv[i]
            setattr(g, name[2:].replace("-", "_"), value)
        elif name in _GLOBAL_BOOL:
            setattr(g, name[2:].replace("-", "_"), value.lower() not in ("false", "0") if eq else True)
        elif name in ("-v", "--version"):
            return g, ["--version"]
        elif name in ("-h", "--help"):
            return g, ["--help"]
        else:
            raise InvalidArgument(f"flag provided but not defined: {arg}")
        i += 1
    if g.log_format not in ("text", "json"):
        raise InvalidArgument(f"invalid log format {g.log_format!r} (want text or json)")
    if not g.root:
        g.root = _default_root()
    return g, argv[i:]


def _default_root() -> str:
    """/run/runcgo, or $XDG_RUNTIME_DIR/runcgo for an unprivileged user (as runc's
    /run/runc vs $XDG_RUNTIME_DIR/runc), made at once as runc does."""
    if os.geteuid() == 0 and not os.environ.get("XDG_RUNTIME_DIR"):
        return DEFAULT_ROOT  # the common case, without reading /proc
    from .kernel.rootless import default_root, make_xdg_root

    root, xdg = default_root(DEFAULT_ROOT)
    if xdg:
        try:
            make_xdg_root(root)
        except OSError as exc:
            raise InvalidArgument(f"mkdir {root}: {os.strerror(exc.errno or 0).lower()} (the path "
                                  "in $XDG_RUNTIME_DIR must be writable by the user)") from None
    return root


def _parser(cmd: str) -> Parser:
    return Parser(prog=f"runcgo {cmd}")


def _id(p: Parser) -> None:
    p.add_argument("container_id", metavar="ID")


def _create_args(p: Parser, run: bool = False) -> None:
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("--pidfd-socket")
    p.add_argument("--network")
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--ip")
    p.add_argument("--cni-conf-dir")
    p.add_argument("--cni-path")
    if run:
        p.add_argument("-d", "--detach", action="store_true")
        p.add_argument("--keep", action="store_true")
        p.add_argument("--no-subreaper", action="store_true")
        p.add_argument("-t", "--tty", action="store_true")
    _id(p)
    # runc-go's form: the bundle as a second argument (`run ID BUNDLE`), same as --bundle
    p.add_argument("bundle_arg", nargs="?")


def _create_opts(a: SimpleNamespace, g: Globals) -> Any:
    from .ops.create import CreateOptions

    if a.preserve_fds < 0:
        raise InvalidArgument(f"--preserve-fds must not be negative: {a.preserve_fds}")
    if a.bundle_arg is not None:
        if a.bundle not in (".", a.bundle_arg):
            raise InvalidArgument(f"two bundles given: --bundle {a.bundle} and {a.bundle_arg}")
        a.bundle = a.bundle_arg
    return CreateOptions(bundle=a.bundle, pid_file=a.pid_file, console_socket=a.console_socket,
                         no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring,
                         preserve_fds=a.preserve_fds, systemd_cgroup=g.systemd_cgroup,
                         network=_network_request(a), rootless=g.rootless)


def _network_request(a: SimpleNamespace) -> Any:
    """--network and its companions; they mean nothing without --network."""
    if a.network is None:
        for flag, value in (("--publish", a.publish), ("--ip", a.ip),
                            ("--cni-conf-dir", a.cni_conf_dir), ("--cni-path", a.cni_path)):
            if value:
                raise InvalidArgument(f"{flag} needs --network NAME")
        return None
    from .net.request import NetworkRequest, parse_publish

    return NetworkRequest(name=a.network, publish=[parse_publish(x) for x in a.publish],
                          ip=a.ip, conf_dir=a.cni_conf_dir or "", cni_path=a.cni_path or "")


def cmd_create(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.create import create

    p = _parser("create")
    _create_args(p)
    a = p.parse_args(argv)
    drive(create(Store(g.root), a.container_id, _create_opts(a, g)))
    return 0


def cmd_run(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.run import run

    p = _parser("run")
    _create_args(p, run=True)
    a = p.parse_args(argv)
    opts = _create_opts(a, g)
    if a.tty:
        if a.detach and not a.console_socket:
            raise InvalidArgument("run -t -d needs --console-socket (the terminal must go somewhere)")
        opts.force_terminal = True
    if not a.detach and not a.console_socket and (a.tty or _wants_terminal(opts.bundle)):
        from .ops.relay import run_with_relay

        return run_with_relay(Store(g.root), a.container_id, opts, keep=a.keep)
    return drive(run(Store(g.root), a.container_id, opts, detach=a.detach, keep=a.keep))


def _wants_terminal(bundle: str) -> bool:
    """Peek at process.terminal (create validates the whole config later)."""
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            cfg = json.loads(f.read())
        return bool(cfg.get("process", {}).get("terminal"))
    except (OSError, ValueError, AttributeError):
        return False


def cmd_start(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.start import start

    p = _parser("start")
    _id(p)
    a = p.parse_args(argv)
    drive(start(Store(g.root), a.container_id))
    return 0


def cmd_state(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.query import state

    p = _parser("state")
    _id(p)
    a = p.parse_args(argv)
    st = drive(state(Store(g.root), a.container_id))
    print(json.dumps(st.oci(), indent=2))
    return 0


def cmd_kill(argv: list[str], g: Globals) -> int:
    from .kernel.signals import parse
    from .ops import drive
    from .ops.kill import kill

    p = _parser("kill")
    p.add_argument("-a", "--all", action="store_true")
    _id(p)
    p.add_argument("signal", nargs="?", default="SIGTERM")
    a = p.parse_args(argv)
    try:
        sig = parse(a.signal)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    drive(kill(Store(g.root), a.container_id, sig, all_processes=a.all))
    return 0


def cmd_delete(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.delete import delete

    p = _parser("delete")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("container_ids", metavar="ID", nargs="+")
    a = p.parse_args(argv)
    for cid in a.container_ids:
        report = drive(delete(Store(g.root), cid, force=a.force))
        if report:  # --force cleaned up after damaged state: say what was done
            sys.stderr.write(f"runcgo: {report}\n")
    return 0


def cmd_list(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.query import list_containers

    p = _parser("list")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    states = drive(list_containers(Store(g.root)))
    if a.quiet:
        for st in states:
            print(st.id)
    elif a.format == "json":
        print(json.dumps([s.oci() for s in states]))
    else:
        store = Store(g.root)
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[s.id, str(s.pid if s.status != "stopped" else 0), s.status, s.bundle,
                  s.created, s.owner or _dir_owner(store, s.id)] for s in states]
        widths = [max(12, *(len(r[i]) + 3 for r in rows)) for i in range(5)]
        for r in rows:
            print("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[5])
    return 0


def _dir_owner(store: Store, container_id: str) -> str:
    """runc's OWNER column: the user owning the container's state directory."""
    try:
        uid = os.stat(store.dir(container_id)).st_uid
    except OSError:
        return "root"
    if uid == 0:
        return "root"
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def cmd_spec(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.spec import write_spec

    p = _parser("spec")
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--rootless", action="store_true")
    a = p.parse_args(argv)
    drive(write_spec(a.bundle, a.rootless))
    return 0


def cmd_exec(argv: list[str], g: Globals) -> int:
    p = _parser("exec")
    p.add_argument("-p", "--process")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("--cwd")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    p.add_argument("-c", "--cap", action="append", default=[])
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("--ignore-paused", action="store_true")
    p.add_argument("--process-label")
    p.add_argument("--apparmor")
    p.add_argument("--cgroup", action="append", default=[])
    _id(p)
    p.add_argument("command", nargs=REMAINDER)
    a = p.parse_args(argv)  # a usage error exits 1, as runc's
    try:
        return _exec(a, g)
    except RuncgoError as exc:  # runc: every failure to exec is 255, the
        exc.exit_code = 255     # process's own status is everything below
        raise
    except OSError as exc:
        from .errors import describe_oserror

        raise _ExecFailed(describe_oserror(exc)) from None


class _ExecFailed(RuncgoError):
    exit_code = 255


def _exec(a: SimpleNamespace, g: Globals) -> int:
    from .ops import drive
    from .ops import exec as E

    store = Store(g.root)
    st = store.load(a.container_id)
    if a.process:
        proc = E.load_process_file(a.process)
    else:
        proc = E.process_from_flags(st, a.command, env=a.env, cwd=a.cwd, user=a.user,
                                    additional_gids=a.additional_gids, caps=a.cap,
                                    no_new_privs=a.no_new_privs, tty=a.tty)
    if a.apparmor:
        proc.apparmor_profile = a.apparmor
    if a.process_label:
        proc.selinux_label = a.process_label
    opts = E.ExecOptions(process=proc, detach=a.detach, pid_file=a.pid_file,
                         console_socket=a.console_socket, preserve_fds=a.preserve_fds,
                         ignore_paused=a.ignore_paused,
                         sub_cgroups=E.parse_sub_cgroups(a.cgroup) if a.cgroup else None,
                         relay_terminal=proc.terminal and not a.console_socket and not a.detach)
    if opts.relay_terminal:
        from .ops.relay import exec_with_relay

        return exec_with_relay(store, a.container_id, opts)
    return drive(E.exec_process(store, a.container_id, opts))


def cmd_pause(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.pause import pause

    p = _parser("pause")
    _id(p)
    drive(pause(Store(g.root), p.parse_args(argv).container_id))
    return 0


def cmd_resume(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.pause import resume

    p = _parser("resume")
    _id(p)
    drive(resume(Store(g.root), p.parse_args(argv).container_id))
    return 0


def cmd_update(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.update import FLAGS, resources_from_flags, update

    p = _parser("update")
    p.add_argument("-r", "--resources")
    for flag in FLAGS:  # --cpu-shares: Docker's spelling of --cpu-share
        names = (flag, "--cpu-shares") if flag == "--cpu-share" else (flag,)
        p.add_argument(*names, dest=flag[2:].replace("-", "_"))
    p.add_argument("--l3-cache-schema")
    p.add_argument("--mem-bw-schema")
    _id(p)
    a = p.parse_args(argv)
    base = None
    if a.resources:
        from .spec import LinuxResources, decode

        if a.resources == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                with open(a.resources, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise InvalidArgument(f"--resources {a.resources}: {exc.strerror}") from None
        base = decode(data, LinuxResources, "--resources")
    if a.l3_cache_schema or a.mem_bw_schema:
        raise InvalidArgument("Intel RDT is not available on this host (no resctrl)")
    res = resources_from_flags(base, {f: getattr(a, f[2:].replace("-", "_")) for f in FLAGS})
    drive(update(Store(g.root), a.container_id, res))
    return 0


def cmd_ps(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.ps import filter_ps_table, ps

    p = _parser("ps")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table")
    _id(p)
    p.add_argument("ps_args", nargs=REMAINDER)
    a = p.parse_args(argv)
    pids = drive(ps(Store(g.root), a.container_id))
    if a.format == "json":
        print(json.dumps(pids or None))  # runc: an empty list prints as null
        return 0
    import subprocess

    out = subprocess.run(["ps", *(a.ps_args or ["-ef"])], capture_output=True, text=True)
    if out.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(a.ps_args or ['-ef'])}: {out.stderr.strip()}")
    sys.stdout.write(filter_ps_table(out.stdout, pids))
    return 0


def _duration(text: str) -> float:
    """Go-style durations: 5s, 100ms, 1m30s, or plain seconds."""
    import re

    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidArgument(f"invalid duration {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def cmd_events(argv: list[str], g: Globals) -> int:
    from .ops.events import iter_events

    p = _parser("events")
    p.add_argument("--stats", action="store_true")
    p.add_argument("--interval", default="5s")
    _id(p)
    a = p.parse_args(argv)
    interval = _duration(a.interval)
    if interval <= 0:
        raise InvalidArgument("--interval must be greater than 0")
    try:
        for event in iter_events(Store(g.root), a.container_id, stats=a.stats, interval=interval):
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: a normal way for a stream to end
        with suppress(OSError):
            os.close(1)
    return 0


def cmd_features(argv: list[str], g: Globals) -> int:
    from .features import features

    _parser("features").parse_args(argv)
    print(json.dumps(features(), indent=4))
    return 0


_CRIU_BOOL = ("--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks", "--lazy-pages",
              "--auto-dedup")
_CRIU_VALUE = ("--image-path", "--work-path", "--manage-cgroups-mode", "--empty-ns")


def cmd_checkpoint(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.checkpoint import checkpoint, checkpoint_options

    p = _parser("checkpoint")
    for flag in (*_CRIU_VALUE, "--parent-path", "--page-server"):
        p.add_argument(flag)
    for flag in (*_CRIU_BOOL, "--leave-running", "--pre-dump"):
        p.add_argument(flag, action="store_true")
    p.add_argument("--status-fd", type=int, default=-1)
    _id(p)
    a = p.parse_args(argv)
    drive(checkpoint(Store(g.root), a.container_id, checkpoint_options(a), g.criu))
    return 0


def cmd_restore(argv: list[str], g: Globals) -> int:
    from .ops import drive
    from .ops.checkpoint import restore, restore_options

    p = _parser("restore")
    for flag in (*_CRIU_VALUE, "--console-socket", "--pid-file", "--lsm-profile",
                 "--lsm-mount-context"):
        p.add_argument(flag)
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("-d", "--detach", action="store_true")
    for flag in (*_CRIU_BOOL, "--no-subreaper", "--no-pivot"):
        p.add_argument(flag, action="store_true")
    _id(p)
    a = p.parse_args(argv)
    return drive(restore(Store(g.root), a.container_id, restore_options(a, g.systemd_cgroup),
                         g.criu))


COMMANDS: dict[str, Callable[[list[str], Globals], int]] = {
    "checkpoint": cmd_checkpoint, "restore": cmd_restore,
    "create": cmd_create, "start": cmd_start, "run": cmd_run, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "exec": cmd_exec,
    "pause": cmd_pause, "resume": cmd_resume, "update": cmd_update, "ps": cmd_ps,
    "events": cmd_events,
}


def main(argv: list[str]) -> int:
    cmd = "runcgo"
    try:
        g, rest = _parse_globals(argv)
        log.configure(g.log, g.log_format, g.debug)
        if not rest or rest[0] in ("--help", "-h") or rest == ["help"]:
            from .help import main_help

            sys.stdout.write(main_help())
            return 0
        if rest[0] == "--version":
            sys.stdout.write(version_text())
            return 0
        if rest[0] == "help":  # `runcgo help run` is `runcgo run --help`
            rest = [rest[1], "--help"]
        handler = COMMANDS.get(rest[0])
        if handler is None:
            from .help import unknown_topic

            raise InvalidArgument(unknown_topic(rest[0]))
        cmd = rest[0]
        return handler(rest[1:], g)
    except RuncgoError as exc:
        return _fail(cmd, str(exc), exc.exit_code)
    except OSError as exc:
        from .errors import describe_oserror

        return _fail(cmd, describe_oserror(exc), 1)
    except KeyboardInterrupt:
        return 130


def _fail(cmd: str, msg: str, code: int) -> int:
    msg, cmd = one_line(msg), one_line(cmd)
    log.error(msg)
    prefix = f"runcgo: {cmd} failed: " if cmd != "runcgo" else "runcgo: "
    sys.stderr.write(prefix + msg + "\n")
    return code
