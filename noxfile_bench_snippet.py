"""The `bench` nox session, to be merged into noxfile.py (uses its PY and imports).

    .venv/bin/nox -s bench                       # N=20, prints the table
    .venv/bin/nox -s bench -- --quick            # CI smoke (N=3)
    .venv/bin/nox -s bench -- --json bench.json  # also write the results
"""

from __future__ import annotations

import sys

import nox

PY = sys.executable  # in noxfile.py this already exists


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """runcgo vs runc vs crun side by side (root; not a test). Args go to bench.py."""
    session.run(PY, "tests/bench/bench.py", *session.posargs, external=True)
