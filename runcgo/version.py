"""Version constants, importable without pulling in the spec types."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
