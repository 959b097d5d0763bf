#!/bin/bash
# Bring up the Docker test tier's engines: containerd + dockerd, with runcgo registered.
#
# Idempotent. Installs Debian's docker.io (dockerd 20.10, containerd 1.6) if missing, registers
# the runcgo runtime in /etc/docker/daemon.json (merging with what is there), starts containerd
# and then dockerd in the background (setsid, stdin /dev/null, inherited fds > 2 closed, clean
# environment), records the PIDs of what *we* started in $STATE_DIR and waits for `docker info`.
# A dockerd (or containerd) that is already running and was not started by us is used as is and
# never stopped by docker-down.sh.
#
# Environment:
#   RUNCGO_BIN             path registered as the runcgo runtime (default /usr/local/bin/runcgo)
#   RUNCGO_DOCKER_STATE    state dir (default /run/runcgo-docker-tier)
#   RUNCGO_DOCKER_PODMAN   1 = also try to install podman (default 1; failure is not fatal)
#   RUNCGO_DOCKER_TIMEOUT  seconds to wait for `docker info` (default 60)
set -euo pipefail

RUNCGO_BIN=${RUNCGO_BIN:-/usr/local/bin/runcgo}
STATE_DIR=${RUNCGO_DOCKER_STATE:-/run/runcgo-docker-tier}
WANT_PODMAN=${RUNCGO_DOCKER_PODMAN:-1}
TIMEOUT=${RUNCGO_DOCKER_TIMEOUT:-60}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONTAINERD_SOCK=/run/containerd/containerd.sock
DOCKER=/usr/bin/docker   # Debian's client; /usr/local/bin may hold a different one

log() { echo "docker-up: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
mkdir -p "$STATE_DIR"

# ---------------------------------------------------------------- packages
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 || {
        log "apt-get install $* failed; trying after apt-get update"
        apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
    }
}
need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /usr/bin/containerd ] || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v tini-static >/dev/null || [ -e /usr/bin/docker-init ] || need+=(tini)
command -v iptables >/dev/null || need+=(iptables)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
fi
if [ "$WANT_PODMAN" = 1 ] && ! command -v podman >/dev/null; then
    log "installing podman"
    apt_install podman || log "podman could not be installed (podman scenarios will be skipped)"
fi

# ---------------------------------------------------------------- daemon.json
mkdir -p /etc/docker
changed_cfg=$(/usr/bin/python3 -I - "$RUNCGO_BIN" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
try:
    with open(path) as f:
        cfg = json.load(f)
except FileNotFoundError:
    cfg = {}
want = {"path": sys.argv[1]}
runtimes = cfg.setdefault("runtimes", {})
runtimes.pop("runc", None)          # the name runc is reserved by dockerd
if runtimes.get("runcgo") != want:
    runtimes["runcgo"] = want
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print("changed")
PY
)

# ---------------------------------------------------------------- helpers
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# PID of a running process whose executable is $1, if any (no pgrep -f: match the exe exactly)
running_pid() {
    local exe=$1 p
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ]; then echo "${p#/proc/}"; return 0; fi
    done
    return 1
}
# start_daemon NAME LOGFILE CMD...: detached, new session, stdin /dev/null, fds > 2 closed,
# clean environment. Echoes the PID.
start_daemon() {
    local name=$1 logf=$2; shift 2
    # `exec N>&-` for every fd > 2 this shell has open; then setsid with a clean env.
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
        done
        exec env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 \
            setsid "$@" </dev/null >>"$logf" 2>&1
    ) &
    echo $!
}
wait_for() {  # wait_for SECONDS CMD...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# ---------------------------------------------------------------- containerd
cpid=$(cat "$STATE_DIR/containerd.pid" 2>/dev/null || true)
if alive "$cpid"; then
    log "containerd already started by us (pid $cpid)"
elif other=$(running_pid /usr/bin/containerd); then
    log "using containerd already running (pid $other, not ours)"
    rm -f "$STATE_DIR/containerd.pid"
else
    rm -f "$STATE_DIR/containerd.pid"
    cpid=$(start_daemon containerd "$STATE_DIR/containerd.log" /usr/bin/containerd)
    echo "$cpid" > "$STATE_DIR/containerd.pid"
    log "started containerd (pid $cpid)"
    wait_for 30 test -S "$CONTAINERD_SOCK" && wait_for 30 ctr version \
        || { log "containerd did not come up; log:"; tail -20 "$STATE_DIR/containerd.log" >&2; exit 1; }
fi

# ---------------------------------------------------------------- dockerd
dpid=$(cat "$STATE_DIR/dockerd.pid" 2>/dev/null || true)
if alive "$dpid"; then
    log "dockerd already started by us (pid $dpid)"
    [ "$changed_cfg" != changed ] || kill -HUP "$dpid"
elif other=$(running_pid /usr/sbin/dockerd); then
    log "using dockerd already running (pid $other, not ours)"
    rm -f "$STATE_DIR/dockerd.pid"
    # make sure it knows about runcgo
    "$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runcgo"' || kill -HUP "$other"
else
    rm -f "$STATE_DIR/dockerd.pid"
    dpid=$(start_daemon dockerd "$STATE_DIR/dockerd.log" /usr/sbin/dockerd \
        --containerd "$CONTAINERD_SOCK" --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs)
    echo "$dpid" > "$STATE_DIR/dockerd.pid"
    log "started dockerd (pid $dpid)"
fi

if ! wait_for "$TIMEOUT" "$DOCKER" info; then
    log "docker info did not answer within ${TIMEOUT}s; dockerd log:"
    tail -30 "$STATE_DIR/dockerd.log" >&2 || true
    exit 1
fi
wait_for 10 sh -c "$DOCKER info --format '{{json .Runtimes}}' | grep -q '\"runcgo\"'" \
    || log "warning: dockerd does not list the runcgo runtime"
log "docker is up: $("$DOCKER" version --format 'server {{.Server.Version}}')"
