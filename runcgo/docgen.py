"""Man pages, docs/cli.md and bash completion, generated from the command line itself.

Each command's flags are taken from the very parser the command builds (the
parser hands itself to :attr:`runcgo.flags.Parser.help_hook` instead of
printing help), and its summary from :mod:`runcgo.help`: what ``--help`` shows,
the man pages and the completion can't drift apart.

    python -m runcgo.docgen man DIR          # runcgo.8 and runcgo-COMMAND.8
    python -m runcgo.docgen markdown FILE    # docs/cli.md
    python -m runcgo.docgen completion FILE  # bash completion
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from dataclasses import dataclass

from . import cli, help
from .flags import Parser
from .version import __version__

GLOBAL_FLAGS: list[tuple[str, str, str]] = [  # (names, value, what)
    ("--root", "DIR", "state directory (default /run/runcgo; Docker passes its own)"),
    ("--log", "FILE", "log file (default: standard error)"),
    ("--log-format", "text|json", "format of log lines (default text)"),
    ("--debug", "", "also log debug messages"),
    ("--systemd-cgroup", "", "use the systemd cgroup driver (cgroupsPath is slice:prefix:name)"),
    ("--rootless", "true|false|auto",
     "skip cgroups it may not write (default auto: not root, or root in a user namespace)"),
    ("--criu", "PATH", "the CRIU binary for checkpoint/restore (default criu)"),
    ("-h, --help", "", "show help"),
    ("-v, --version", "", "print the version"),
]


@dataclass
class Flag:
    names: list[str]  # longest first: ["--bundle", "-b"]
    takes_value: bool
    what: str


@dataclass
class Command:
    name: str
    usage: str
    summary: str
    flags: list[Flag]


def commands() -> list[Command]:
    """Every command with the flags its own parser accepts."""
    seen: list[Parser] = []
    Parser.help_hook = seen.append
    try:
        out = []
        for name in sorted(cli.COMMANDS):
            seen.clear()
            with contextlib.suppress(SystemExit):
                cli.COMMANDS[name](["--help"], cli.Globals())
            flags = []
            if seen:
                for opt in seen[0].order:
                    names = sorted(opt.names, key=len, reverse=True)
                    flags.append(Flag(names, opt.action != "store_true",
                                      help.FLAGS.get(names[0], "")))
            usage, summary = help.COMMANDS.get(name, ("", ""))
            out.append(Command(name, usage, summary, flags))
        return out
    finally:
        Parser.help_hook = None


def _roff(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln if ln.startswith((".", "'")) else ln) for ln in text.split("\n"))


def _date() -> str:
    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(stamp), datetime.UTC) if stamp
            else datetime.datetime.now(datetime.UTC))
    return when.strftime("%Y-%m-%d")


def man_pages() -> dict[str, str]:
    """file name -> roff source, for section 8."""
    cmds = commands()
    head = f'.TH {{}} 8 "{_date()}" "runcgo {__version__}" "runcgo manual"\n'
    pages: dict[str, str] = {}
    main = head.format("RUNCGO")
    main += ".SH NAME\nruncgo \\- OCI container runtime in Python, a drop\\-in for runc\n"
    main += ".SH SYNOPSIS\n.B runcgo\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIcommand options\\fR] [\\fIarguments\\fR...]\n"
    main += (".SH DESCRIPTION\n.B runcgo\nruns the process an OCI bundle (config.json and a "
             "root filesystem) describes, in its own namespaces, cgroups and security context, "
             "and takes the same commands, flags and exit codes as runc 1.1.5.\n")
    main += ".SH GLOBAL OPTIONS\n"
    for names, value, what in GLOBAL_FLAGS:
        main += f".TP\n.B {_roff(names)}{' ' + chr(92) + 'fI' + _roff(value) + chr(92) + 'fR' if value else ''}\n{_roff(what)}\n"
    main += ".SH COMMANDS\n"
    for c in cmds:
        main += f".TP\n.BR runcgo\\-{c.name} (8)\n{_roff(c.summary)}\n"
    main += (".SH EXIT STATUS\n0 on success; 1 on an error (one line on standard error); the "
             "container's own status for a foreground run; exec: the process's status, 255 when "
             "it could not be started.\n")
    main += ".SH SEE ALSO\n" + ", ".join(f"\\fBruncgo\\-{c.name}\\fR(8)" for c in cmds) + "\n"
    pages["runcgo.8"] = main
    for c in cmds:
        page = head.format(f"RUNCGO-{c.name.upper()}")
        page += f".SH NAME\nruncgo\\-{c.name} \\- {_roff(c.summary)}\n"
        page += f".SH SYNOPSIS\n.B runcgo {c.name}\n{_roff(c.usage)}\n"
        page += (f".SH DESCRIPTION\n{_roff(c.summary[:1].upper() + c.summary[1:])}. Takes the "
                 f"flags of \\fBrunc {c.name}\\fR.\n")
        if c.flags:
            page += ".SH OPTIONS\n"
            for f in c.flags:
                names = ", ".join(f.names)
                value = " \\fIvalue\\fR" if f.takes_value else ""
                page += f".TP\n.B {_roff(names)}{value}\n{_roff(f.what)}\n"
        page += ".SH SEE ALSO\n\\fBruncgo\\fR(8)\n"
        pages[f"runcgo-{c.name}.8"] = page
    return pages


def markdown() -> str:
    lines = ["# runcgo command line", "",
             "Generated by `python -m runcgo.docgen markdown docs/cli.md` from the parsers the",
             "commands use (a test checks it is current). `runcgo COMMAND --help` and",
             "`man runcgo-COMMAND` show the same.", "",
             "## Global options", "", "| option | value | what |", "|---|---|---|"]
    for names, value, what in GLOBAL_FLAGS:
        shown = ("`" + value.replace("|", "\\|") + "`") if value else ""
        lines.append(f"| `{names}` | {shown} | {what} |")
    for c in commands():
        lines += ["", f"## `runcgo {c.name}`", "", c.summary[:1].upper() + c.summary[1:] + ".", "",
                  f"    runcgo {c.name} {c.usage}".rstrip()]
        if c.flags:
            lines += ["", "| flag | value | what |", "|---|---|---|"]
            for f in c.flags:
                lines.append(f"| `{', '.join(f.names)}` | {'yes' if f.takes_value else ''} | {f.what} |")
    return "\n".join(lines) + "\n"


# Commands whose (first) positional argument is an existing container's ID.
_TAKES_ID = {"checkpoint", "delete", "events", "exec", "kill", "pause", "ps", "resume", "start",
             "state", "update"}


def completion() -> str:
    """bash completion: commands, each command's flags, container IDs from ``list -q``."""
    cmds = commands()
    cases = []
    for c in cmds:
        flags = " ".join(n for f in c.flags for n in f.names)
        cases.append(f"        {c.name}) flags='{flags}' ids={1 if c.name in _TAKES_ID else 0} ;;")
    globals_ = " ".join(n.strip() for names, _, _ in GLOBAL_FLAGS for n in names.split(","))
    case_block = "\n".join(cases)
    return f"""# bash completion for runcgo (generated by python -m runcgo.docgen completion)
_runcgo() {{
    local cur prev cmd="" root="" i flags="" ids=0
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
        --root) root="${{COMP_WORDS[i+1]}}"; i=$((i + 1)) ;;
        --root=*) root="${{COMP_WORDS[i]#--root=}}" ;;
        --log|--log-format|--rootless|--criu) i=$((i + 1)) ;;
        -*) ;;
        *) cmd="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    if [ -z "$cmd" ]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{globals_}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{' '.join(c.name for c in cmds)} help" -- "$cur"))
        fi
        return
    fi
    case "$cmd" in
{case_block}
        help) COMPREPLY=($(compgen -W "{' '.join(c.name for c in cmds)}" -- "$cur")); return ;;
    esac
    case "$prev" in
    --bundle|-b|--pid-file|--console-socket|--process|-p|--resources|-r|--image-path|--work-path|--log)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [ "$ids" = 1 ]; then
        COMPREPLY=($(compgen -W "$(runcgo ${{root:+--root "$root"}} list -q 2>/dev/null)" -- "$cur"))
    fi
}}
complete -F _runcgo runcgo
"""


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("man", "markdown", "completion"):
        sys.stderr.write("usage: python -m runcgo.docgen man DIR | markdown FILE | completion FILE\n")
        return 2
    what, dest = argv
    if what == "man":
        os.makedirs(dest, exist_ok=True)
        for name, text in man_pages().items():
            with open(os.path.join(dest, name), "w") as f:
                f.write(text)
        return 0
    with open(dest, "w") as f:
        f.write(markdown() if what == "markdown" else completion())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
