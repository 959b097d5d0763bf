"""A small runc-style flag parser with the subset of argparse's API the CLI uses.

argparse (with re and gettext) costs several milliseconds per call, and
Docker calls the runtime four times per container.  Rules, as runc's
urfave/cli has them: ``--name value``, ``--name=value``, Go's single-dash
long form ``-name``, boolean flags (``--force``, ``--force=false``), ``--``
ends the flags, and for commands that take a command line (``exec``, ``ps``)
flags stop at the first positional.
"""

from __future__ import annotations

from ._lite import SimpleNamespace
from .errors import InvalidArgument

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

REMAINDER = "..."


class _Opt:
    __slots__ = ("action", "choices", "conv", "default", "dest", "names")

    def __init__(self, names: tuple[str, ...], action: str | None, default: Any,
                 conv: Callable[[str], Any] | None, choices: Sequence[str] | None,
                 dest: str) -> None:
        self.names, self.action, self.default = names, action, default
        self.conv, self.choices, self.dest = conv, choices, dest


class _Pos:
    __slots__ = ("default", "dest", "nargs")

    def __init__(self, dest: str, nargs: str | None, default: Any) -> None:
        self.dest, self.nargs, self.default = dest, nargs, default


class Parser:
    # Set by runcgo.docgen to collect each command's parser for man pages, docs
    # and completion: the same tables the command line is parsed with.
    help_hook: Callable[[Parser], None] | None = None

    def __init__(self, prog: str, **_ignored: Any) -> None:
        self.prog = prog
        self.opts: dict[str, _Opt] = {}
        self.order: list[_Opt] = []
        self.positionals: list[_Pos] = []

    def add_argument(self, *names: str, action: str | None = None, default: Any = None,
                     type: Callable[[str], Any] | None = None,
                     choices: Sequence[str] | None = None, dest: str | None = None,
                     nargs: str | None = None, metavar: str | None = None) -> None:
        del metavar
        if not names[0].startswith("-"):
            self.positionals.append(_Pos(names[0], nargs, default))
            return
        longest = max(names, key=len).lstrip("-").replace("-", "_")
        if action == "store_true" and default is None:
            default = False
        if action == "append" and default is None:
            default = []
        opt = _Opt(names, action, default, type, choices, dest or longest)
        for n in names:
            self.opts[n] = opt
        self.order.append(opt)

    def _err(self, msg: str) -> InvalidArgument:
        return InvalidArgument(f"{self.prog}: {msg}")

    def _lookup(self, token: str) -> _Opt | None:
        if token in self.opts:
            return self.opts[token]
        if not token.startswith("--") and len(token) > 2:  # Go's -name for --name
            return self.opts.get("-" + token)
        return None

    def usage(self) -> str:
        flags = " ".join(f"[{'|'.join(o.names)}{'' if o.action == 'store_true' else ' V'}]"
                         for o in self.order)
        pos = " ".join(p.dest.upper() for p in self.positionals)
        return f"usage: {self.prog} {flags} {pos}\n"

    def parse_args(self, argv: list[str]) -> SimpleNamespace:
        ns = SimpleNamespace(**{o.dest: (list(o.default) if isinstance(o.default, list)
                                         else o.default) for o in self.order})
        rest_cmd = any(p.nargs == REMAINDER for p in self.positionals)
        args: list[str] = []
        i = 0
        while i < len(argv):
            tok = argv[i]
            i += 1
            if tok == "--":
                args.extend(argv[i:])
                break
            if tok in ("-h", "--help"):
                import sys

                from .help import command_help

                if Parser.help_hook is not None:
                    Parser.help_hook(self)
                    raise SystemExit(0)
                sys.stdout.write(command_help(self.prog.split()[-1], self))
                raise SystemExit(0)
            if not tok.startswith("-") or tok == "-" or (rest_cmd and args) or tok[1:].isdigit():
                args.append(tok)
                if rest_cmd and len(args) >= len(self.positionals) - 1:
                    args.extend(argv[i:])
                    break
                continue
            name, eq, value = tok.partition("=")
            opt = self._lookup(name)
            if opt is None:
                raise self._err(f"flag provided but not defined: {name}")
            if opt.action == "store_true":
                if eq and value.lower() not in ("true", "false", "1", "0"):
                    raise self._err(f"invalid boolean value {value!r} for {name}")
                setattr(ns, opt.dest, not eq or value.lower() in ("true", "1"))
                continue
            if not eq:
                if i >= len(argv):
                    raise self._err(f"flag needs an argument: {name}")
                value = argv[i]
                i += 1
            if opt.choices is not None and value not in opt.choices:
                raise self._err(f"invalid value {value!r} for {name} (want {'|'.join(opt.choices)})")
            try:
                conv = opt.conv(value) if opt.conv else value
            except ValueError:
                raise self._err(f"invalid value {value!r} for {name}") from None
            if opt.action == "append":
                getattr(ns, opt.dest).append(conv)
            else:
                setattr(ns, opt.dest, conv)
        self._assign(ns, args)
        return ns

    def _assign(self, ns: SimpleNamespace, args: list[str]) -> None:
        i = 0
        for p in self.positionals:
            if p.nargs == REMAINDER:
                setattr(ns, p.dest, args[i:])
                i = len(args)
            elif p.nargs == "+":
                if i >= len(args):
                    raise self._err(f"{p.dest.upper()} is required")
                setattr(ns, p.dest, args[i:])
                i = len(args)
            elif p.nargs == "?":
                setattr(ns, p.dest, args[i] if i < len(args) else p.default)
                i += 1 if i < len(args) else 0
            else:
                if i >= len(args):
                    raise self._err(f"{p.dest.replace('_', ' ')} is required")
                setattr(ns, p.dest, args[i])
                i += 1
        if i < len(args):
            raise self._err(f"unexpected arguments: {' '.join(args[i:])}")
