#!/bin/bash
# Run the CVE regression tests against deliberately weakened copies of runcgo: each
# must FAIL there (a test that passes on a weakened build guards nothing).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY="$REPO/.venv/bin/python"
run() {  # name, file, python-replace-old, new, tests
  local name=$1 file=$2 old=$3 new=$4 tests=$5
  rm -rf /tmp/weak && cp -a "$REPO" /tmp/weak 2>/dev/null
  rm -rf /tmp/weak/.venv
  python3 - "$file" "$old" "$new" <<'PY'
import sys
p, old, new = "/tmp/weak/" + sys.argv[1], sys.argv[2], sys.argv[3]
s = open(p).read()
assert old in s, ("pattern not found", p, old)
open(p, "w").write(s.replace(old, new))
PY
  out=$(cd /tmp/weak && PYTHONPATH=/tmp/weak RUNCGO_CLI="$PY -m runcgo" $PY -m pytest -p no:cacheprovider -q tests/security/test_cve_regressions.py -k "$tests" 2>&1 | tail -1)
  echo "$name: $out"
}
run2() {  # two patches
  local name=$1 f1=$2 o1=$3 n1=$4 f2=$5 o2=$6 n2=$7 tests=$8
  rm -rf /tmp/weak && cp -a "$REPO" /tmp/weak 2>/dev/null; rm -rf /tmp/weak/.venv
  python3 - "$f1" "$o1" "$n1" "$f2" "$o2" "$n2" <<'PY'
import sys
a = sys.argv[1:]
for p, old, new in ((a[0], a[1], a[2]), (a[3], a[4], a[5])):
    p = "/tmp/weak/" + p
    s = open(p).read()
    assert old in s, ("pattern not found", p, old)
    open(p, "w").write(s.replace(old, new))
PY
  out=$(cd /tmp/weak && PYTHONPATH=/tmp/weak RUNCGO_CLI="$PY -m runcgo" $PY -m pytest -p no:cacheprovider -q tests/security/test_cve_regressions.py -k "$tests" 2>&1 | tail -1)
  echo "$name: $out"
}
run2 "no close-on-exec and no cwd check" runcgo/kernel/preexec.py "    process.close_fds_except(keep)" "    pass" runcgo/kernel/preexec.py "    _check_cwd_inside(proc.cwd)
    # (the labels" "    # (the labels" "21626"
run2 "no in-root resolution at all" runcgo/kernel/paths.py "    return sc.openat2(rootfd, path.lstrip(\"/\") or \".\", flags, _RESOLVE, mode)" "    return sc.openat2(rootfd, path.lstrip(\"/\") or \".\", flags, 0, mode)" runcgo/kernel/paths.py "    todo = [c for c in path.split(\"/\") if c not in (\"\", \".\")]
    todo.reverse()" "    return path
    todo = []" "30465"
run "no PR_SET_DUMPABLE 0" runcgo/kernel/preexec.py "sc.prctl(sc.PR_SET_DUMPABLE, 0)" "pass" "5736 or 9962"
run "proc on symlink allowed" runcgo/kernel/rootfs.py "    if fstype in (\"proc\", \"sysfs\"):
        _refuse_symlink(rootfd, m.destination, fstype)" "    pass" "19921"
run "no /dev/null check" runcgo/kernel/rootfs.py "            if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):" "            if False:" "31133"
rm -rf /tmp/weak
