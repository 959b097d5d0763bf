#!/usr/bin/env bash
# Install everything runcgo and its tests need on a fresh Debian 12 / Ubuntu machine, as root.
# Idempotent: safe to run again.  Creates .venv in the checkout and links
# /usr/local/bin/runcgo to it (the path Docker's daemon.json names).
# Prints one line per step; the tools' own output goes to .bootstrap.log and is shown
# only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: run as root (containers need root)" >&2
    exit 1
fi

LOG="$PWD/.bootstrap.log"
: > "$LOG"
step() {  # step "what" command...: one progress line, the output in $LOG
    local what=$1 t0=$SECONDS
    shift
    printf 'bootstrap: %s ... ' "$what"
    if "$@" >>"$LOG" 2>&1; then
        echo "done ($((SECONDS - t0)) s)"
    else
        local rc=$?
        echo "FAILED (exit $rc); the last lines of $LOG:"
        tail -n 30 "$LOG" >&2
        exit "$rc"
    fi
}

# What running containers needs (the demo installs just this) ...
APT_PACKAGES=(
    busybox-static      # the test/demo rootfs
    libseccomp2         # seccomp profiles (pyseccomp loads it with ctypes)
    python3 python3-venv python3-dev gcc   # the venv (and wheels that compile)
    procps              # ps, for `runcgo ps`
)
# ... and what the test suite needs on top (scripts/test.sh passes --tests).
if [ "${1:-}" = "--tests" ]; then
    APT_PACKAGES+=(
        tmux                # terminal tests drive a real pty through tmux
        containernetworking-plugins iptables iproute2   # CNI networks (--network) and their checks
        runc crun           # the runtimes the benchmarks compare against
        uidmap              # newuidmap/newgidmap: the rootless tier's several-range user namespaces
        slirp4netns fuse-overlayfs   # podman rootless in the rootless tier (podman: docker-up.sh)
        qemu-system-x86 linux-image-amd64 systemd dbus   # the cgroup v2 VM tier
        criu                # checkpoint/restore (works in the VM tier's 6.1 kernel; nox -s checkpoint)
        apparmor            # apparmor_parser: the checkpoint tier loads a profile in the guest (--lsm-profile)
        podman              # the checkpoint tier's podman case (container checkpoint/restore) in the guest
    )
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
}
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}" apt_install "${missing[@]}"
fi

PY=/usr/bin/python3   # the real interpreter, never a version-manager shim (start-up cost)
make_venv() {
    if [ ! -x .venv/bin/python ]; then
        "$PY" -m venv .venv
    fi
    .venv/bin/pip install -q --upgrade pip
    # setuptools' editable-install notices are not the user's business
    PYTHONWARNINGS=ignore .venv/bin/pip install -q -e '.[test,dev,systemd,criu]'
    # Bytecode for every module: some environments set PYTHONDONTWRITEBYTECODE=1,
    # and without .pyc files each runcgo call pays to compile its imports.
    .venv/bin/python -m compileall -q runcgo
}
step "installing runcgo and its Python packages into .venv" make_venv
git rev-parse --short HEAD > runcgo/_commit.txt 2>/dev/null || true
# The console script: the real interpreter with -I -S (no site, no editable-install
# finder: ~7 ms less on every call Docker makes) and this install's paths spelled out.
# runcgo.launcher writes it (a pip-installed runcgo writes the same on its first run).
step "writing the -I -S launcher .venv/bin/runcgo" .venv/bin/python -m runcgo.launcher --via scripts/bootstrap.sh .venv/bin/runcgo
ln -sf "$PWD/.venv/bin/runcgo" /usr/local/bin/runcgo
# man runcgo, man runcgo-run ...; bash completion (commands, flags, container IDs):
# generated from the parsers the commands use.
install_docs() {
    .venv/bin/python -m runcgo.docgen man /usr/local/share/man/man8
    mkdir -p /usr/share/bash-completion/completions
    .venv/bin/python -m runcgo.docgen completion /usr/share/bash-completion/completions/runcgo
    if [ -d /etc/bash_completion.d ]; then  # shells without the bash-completion package
        ln -sf /usr/share/bash-completion/completions/runcgo /etc/bash_completion.d/runcgo
    fi
    if command -v mandb >/dev/null; then mandb -q 2>/dev/null || true; fi
}
step "installing man pages and bash completion" install_docs
echo "bootstrap: ok ($(.venv/bin/runcgo --version | head -1))"
