#!/bin/sh
# Runs runc's checkpoint.bats (../shared/suites) inside the QEMU guest for one runtime.
#   tests/vm/launch.py --share OUT --env RT=runc|runcgo --env OUT=OUT --env REPO=$PWD -- \
#       sh tests/checkpoint/bats_guest.sh
# The runtime under test is copied onto the guest's own tmpfs first (/opt/rt), runc's binary
# and runcgo's package + -I -S launcher alike: the guest's root is the host's over virtio-9p,
# where under software emulation every file Python opens costs ~15 ms (a checkpoint imports
# ~30 modules: 0.9 s from 9p, 0.5 s from tmpfs), which a runtime on a real disk never pays.
# checkpoint.bats "--lazy-pages" gives the page server 2 s to be ready, measured from the
# runtime's start.  bats needs /dev/fd, which the guest's devtmpfs lacks.
set -eu
: "${RT:?RT=runc or runcgo}" "${OUT:?OUT=a directory shared with the host}" "${REPO:?REPO=the checkout}"
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mkdir -p /opt/rt/bin /opt/rt/lib
case "$RT" in
runc) cp /usr/sbin/runc /opt/rt/bin/runc ;;
runcgo)
	cp -a "$REPO/runcgo" /opt/rt/lib/runcgo
	py=$(readlink -f "$REPO/.venv/bin/python")
	"$py" -I -c "
import sys; sys.path.insert(0, '/opt/rt/lib')
from runcgo import launcher
print(launcher.render('$py', ['/opt/rt/lib', '$REPO/.venv/lib/' + 'python%d.%d' % sys.version_info[:2] + '/site-packages'], via='tests/checkpoint/bats_guest.sh'))
" >/opt/rt/bin/runcgo
	chmod 755 /opt/rt/bin/runcgo
	;;
*) echo "bats_guest.sh: RT must be runc or runcgo, not $RT" >&2; exit 2 ;;
esac
bin=/opt/rt/bin/$RT
"$bin" --version | head -1
export RUNC_BATS_NO_APT=1 SUITES_WORKDIR=/tmp/suites
export RUNC_BATS_TIMEOUT="${RUNC_BATS_TIMEOUT:-600}"
rc=0
bash "$REPO/../shared/suites/runc-integration/run.sh" "$bin" --only checkpoint --out "$OUT/bats-$RT" || rc=$?
exit $rc
