#!/usr/bin/env bash
# Run a real container: build a busybox bundle with `runcgo spec`, run a command in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
