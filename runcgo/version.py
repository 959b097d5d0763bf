"""Version constants, importable without pulling in the spec types."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"


def version_text() -> str:
    """runc's shape: NAME version X / commit: ... / spec: ..."""
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), "_commit.txt")) as f:
            commit = f.read().strip() or "unknown"
    except OSError:
        commit = "unknown"
    return f"runcgo version {__version__}\ncommit: {commit}\nspec: {SPEC_VERSION}\n"
