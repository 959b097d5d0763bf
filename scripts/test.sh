#!/usr/bin/env bash
# The whole test suite, as root: installs what it needs, then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --tests
.venv/bin/nox -s lint typecheck tests faults load soak api_pythons runc_suite cri cgroup2 checkpoint docker rootless "$@"
# The benchmarks as a smoke (small N), so they can't rot; `nox -s bench` for real numbers.
.venv/bin/nox -s bench -- --quick
