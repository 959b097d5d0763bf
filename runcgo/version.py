"""Version constants, importable without pulling in the spec types."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
RUNC_COMPAT = "1.1.5"  # the runc release whose CLI, exit codes and state layout runcgo matches


def version_text() -> str:
    """runc's shape: NAME version X / commit: ... / spec: ...

    The first line also names the runc release whose command line and
    behaviour runcgo follows: tools (and runc's own tests) look for
    "runc version N.N.N" there.
    """
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), "_commit.txt")) as f:
            commit = f.read().strip() or "unknown"
    except OSError:
        commit = "unknown"
    return (f"runcgo version {__version__} (runc version {RUNC_COMPAT} compatible)\n"
            f"commit: {commit}\nspec: {SPEC_VERSION}\n")
