"""Nox session for the Docker test tier; to be merged into noxfile.py.

Needs root. Installs Debian's docker.io/containerd/podman if missing, starts containerd+dockerd
(scripts/docker-up.sh), builds the images locally, runs every scenario with runc (control) and
runcgo, prints the table scenario | runc | runcgo, stops the daemons it started and removes
everything it created. Fails if runcgo fails a scenario that runc passes.

    nox -s docker                     # the whole tier
    nox -s docker -- -k oom           # some scenarios (extra args go to pytest)
    nox -s docker -- --bench          # also the docker-run benchmark (20 interleaved runs each)
"""

import os
import sys

import nox


@nox.session(python=False)
def docker(session: nox.Session) -> None:
    """Docker/containerd/podman scenarios, runcgo against runc as the control."""
    args = list(session.posargs)
    bench = "--bench" in args
    if bench:
        args.remove("--bench")
    # The interpreter nox runs under has pytest + pytest-timeout (the project venv);
    # RUNCGO_TEST_PYTHON overrides it.
    python = os.environ.get("RUNCGO_TEST_PYTHON") or sys.executable
    session.run(
        python, "-m", "pytest", "tests/docker", "-p", "no:cacheprovider", "-q", *args,
        env={"RUNCGO_DOCKER_TIER": "1"},
        external=True,
    )
    if bench:
        session.run(python, "tests/docker/bench_docker_run.py", "-n", "20", external=True)
