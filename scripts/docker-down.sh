#!/bin/bash
# Stop the daemons scripts/docker-up.sh started (dockerd, then containerd), by recorded PID only:
# TERM, wait, then KILL. Daemons it did not start are left alone.
set -uo pipefail
STATE_DIR=${RUNCGO_DOCKER_STATE:-/run/runcgo-docker-tier}
log() { echo "docker-down: $*" >&2; }

stop_pid() {  # stop_pid NAME EXE
    local name=$1 exe=$2 f="$STATE_DIR/$1.pid" pid i
    pid=$(cat "$f" 2>/dev/null) || { log "$name: not started by us"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid already gone"; rm -f "$f"; return 0
    fi
    # guard against PID reuse: it must still be the daemon we started
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ]; then
        log "$name: pid $pid is no longer $exe; not touching it"; rm -f "$f"; return 0
    fi
    kill -TERM "$pid"
    for i in $(seq 1 150); do          # up to 15 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid ignored TERM; sending KILL"
        kill -KILL "$pid"
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    log "$name: stopped (pid $pid)"
    rm -f "$f"
}

stop_pid dockerd /usr/sbin/dockerd
stop_pid containerd /usr/bin/containerd

# Shims outlive containerd by design. After a clean run none is left; one still running means a
# container (or a hung runtime call) survived: report it, don't kill what we didn't start.
for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/containerd-shim-runc-v2 ]; then
        log "warning: containerd shim still running: pid ${p#/proc/}: $(tr '\0' ' ' < "$p/cmdline")"
    fi
done
