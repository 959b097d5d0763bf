"""`python -m runcgo` and the `runcgo` console script."""

import gc
import os
import sys


def main() -> None:
    # A short-lived command makes no garbage cycles worth a collection pass, and the
    # imports would trigger several (the long-running terminal relay turns it back on).
    gc.disable()
    argv = sys.argv[1:]
    if argv in (["--version"], ["-v"]):
        # Engines call this to identify the runtime: answer without loading the CLI.
        from .version import version_text

        sys.stdout.write(version_text())
        rc = 0
    else:
        from .cli import main as cli_main

        rc = cli_main(argv)
    # Interpreter teardown (module and GC finalisation) costs 4-14 ms per call and
    # Docker makes four calls per container: flush what we wrote and leave now.
    # (Log lines are written with os.write and need no flush.)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(rc)


if __name__ == "__main__":
    main()
