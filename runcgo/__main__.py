"""`python -m runcgo` and the `runcgo` console script."""

import os
import sys


def main() -> None:
    from .cli import main as cli_main

    rc = cli_main(sys.argv[1:])
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
