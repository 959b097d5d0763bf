#!/usr/bin/env python3
"""Run one command inside a throw-away QEMU guest that has pure cgroup v2.

    python3 tests/vm/launch.py [--systemd] [--timeout S] [--share DIR]... \
        [--env K=V]... [--disk MIB] [--console] -- CMD ARGS...

The guest boots the host's Debian kernel (an uncompressed vmlinux extracted from
/boot/vmlinuz-*, booted through its PVH entry under TCG) with a tiny initramfs of our
own (static busybox + the virtio/9p/overlay modules).  Its root file system is the
host's `/`, shared read-only over virtio-9p, with a tmpfs overlay on top; every
--share DIR is shared read-write at the same path.  cgroup2 is mounted at
/sys/fs/cgroup with every controller enabled in the root's subtree_control.
CMD runs with the caller's cwd and a clean environment (PATH, HOME=/root, --env
K=V); its stdout/stderr are streamed back over two virtio-serial ports, and the
launcher exits with its exit status.  125 means the VM itself failed (boot failure,
timeout, ...), with a message on stderr.

With --systemd the host's systemd is the guest's PID 1 (slow units masked) and CMD
runs from a oneshot unit, so the systemd cgroup driver can be exercised.

Only the Python standard library is used.  Nothing on the host is mounted or
changed, except the cache (vmlinux + initramfs, see --cache-dir) and a temporary
control directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import gzip
import hashlib
import lzma
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

VM_FAILURE = 125
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KERNEL_ARGS = (
    "console=ttyS0 quiet panic=-1 rdinit=/init cgroup_no_v1=all "
    "systemd.unified_cgroup_hierarchy=1 pci=noacpi"
)
# Extra kernel args for --systemd: no fstab/gpt generators, quiet status output.
SYSTEMD_KERNEL_ARGS = (
    "fstab=no systemd.gpt_auto=0 systemd.show_status=0 systemd.log_level=warning "
    "systemd.log_target=console systemd.firstboot=0 systemd.unit=runcgo-vm.target"
)
# Modules the initramfs loads (dependencies are added from modules.dep, in order).
MODULES = [
    "virtio_pci",
    "virtio_console",
    "virtio_blk",
    "9pnet_virtio",
    "9p",
    "overlay",
    "autofs4",  # systemd loads it at start-up otherwise (slowly, over 9p)
]
MSIZE = 512000
EXIT_MARKER = "RUNCGO-VM-EXIT="
FAIL_MARKER = "RUNCGO-VM-FAIL:"
READY_MARKER = "RUNCGO-VM-READY"
BOOT_MARKER = "RUNCGO-VM-INIT"
JOB_MARKER = "RUNCGO-VM-JOB"
# A guest that has not started the command after --boot-timeout seconds is booted again
# (it takes ~4 s here; a stalled boot is a rare TCG hang, not a slow machine).
BOOT_ATTEMPTS = 3

# ---------------------------------------------------------------------------
# Guest scripts.  /init runs from the initramfs as PID 1 (busybox sh); it builds the
# new root and switch_root's into it, with busybox init (a zombie reaper) or systemd
# as the new PID 1.  stage2.sh then runs the job and powers off.
# ---------------------------------------------------------------------------

INIT_SH = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "RUNCGO-VM-INIT"
fail() {
    echo "RUNCGO-VM-FAIL: $*"
    poweroff -f; reboot -f; sleep 5
}
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m" || fail "insmod $m"
done
mkdir -p /ctl /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=@MSIZE@,cache=none ctl /ctl \
    || fail "mount ctl share"
. /ctl/vm.conf || fail "read vm.conf"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=@MSIZE@,ro,cache=loose hostroot /lower \
    || fail "mount host root"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fail "mount overlay"
R=/newroot
mount -t proc proc $R/proc || fail "mount proc"
mount -t sysfs sysfs $R/sys || fail "mount sysfs"
# as on any booted system (criu caches the LSMs it finds there for the whole boot)
mount -t securityfs securityfs $R/sys/kernel/security 2>/dev/null
mount -t devtmpfs devtmpfs $R/dev || fail "mount devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $R/dev/pts
ln -sf pts/ptmx $R/dev/ptmx
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t mqueue mqueue $R/dev/mqueue
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=0755 tmpfs $R/run
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $R/sys/fs/cgroup \
    || fail "mount cgroup2"
for c in $(cat $R/sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" > $R/sys/fs/cgroup/cgroup.subtree_control || fail "enable controller $c"
done
i=0
for p in $SHARES; do
    mkdir -p "$R$p"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=@MSIZE@,cache=none "share$i" "$R$p" \
        || fail "mount share $p"
    i=$((i+1))
done
mkdir -p $R/run/runcgo-vm/ctl
mount --bind /ctl $R/run/runcgo-vm/ctl
cp /bin/busybox /stage2.sh $R/run/runcgo-vm/
hostname runcgo-vm
ip link set lo up 2>/dev/null
echo 1 > /proc/sys/kernel/printk 2>/dev/null
if [ "$MODE" = systemd ]; then
    mkdir -p $R/run/systemd/system
    cp -a /ctl/units/. $R/run/systemd/system/ || fail "copy units"
    # systemd wants a machine-id; a throw-away one on the tmpfs upper layer
    cat /proc/sys/kernel/random/uuid | tr -d - > $R/run/machine-id
    mount --bind $R/run/machine-id $R/etc/machine-id 2>/dev/null
    mkdir -p $R/run/systemd/system.conf.d
    cp /ctl/system.conf $R/run/systemd/system.conf.d/runcgo-vm.conf
    # generators (fstab, sysv, getty, ...) cost seconds over 9p and are not wanted
    mkdir -p $R/run/systemd/system-generators $R/run/systemd/system-environment-generators
    for g in $R/lib/systemd/system-generators/* $R/usr/lib/systemd/system-generators/*; do
        ln -sf /dev/null $R/run/systemd/system-generators/${g##*/}
    done
    for g in $R/lib/systemd/system-environment-generators/* $R/usr/lib/systemd/system-environment-generators/*; do
        ln -sf /dev/null $R/run/systemd/system-environment-generators/${g##*/}
    done
    # not a container: the host's /.dockerenv would make systemd think so
    rm -f $R/.dockerenv $R/run/.containerenv
    echo "RUNCGO-VM-READY $(cat /proc/uptime)"
    exec switch_root $R /lib/systemd/systemd --unit=runcgo-vm.target --show-status=0 \
        --log-level=warning --log-target=console --log-color=0
fi
printf '::once:/run/runcgo-vm/busybox sh /run/runcgo-vm/stage2.sh\n' > $R/run/runcgo-vm/inittab
mount --bind $R/run/runcgo-vm/inittab $R/etc/inittab 2>/dev/null \
    || cp $R/run/runcgo-vm/inittab $R/etc/inittab
echo "RUNCGO-VM-READY"
exec switch_root $R /run/runcgo-vm/busybox init
"""

STAGE2_SH = r"""
B=/run/runcgo-vm/busybox
C=/run/runcgo-vm/ctl
port() {
    for d in /sys/class/virtio-ports/*; do
        if [ "$($B cat $d/name 2>/dev/null)" = "$1" ]; then echo /dev/${d##*/}; return; fi
    done
    echo /dev/null
}
OUT=$(port runcgo.stdout)
ERR=$(port runcgo.stderr)
echo "RUNCGO-VM-JOB" > /dev/console
/bin/sh $C/job.sh </dev/null >$OUT 2>$ERR
rc=$?
echo $rc > $C/status
$B sync
echo "RUNCGO-VM-EXIT=$rc" > /dev/console
$B poweroff -f
"""

# systemd units written under /run/systemd/system in the guest.
SYSTEMD_TARGET = """[Unit]
Description=runcgo VM job
Requires=runcgo-job.service
After=runcgo-job.service
AllowIsolate=yes
"""

SYSTEMD_SERVICE = """[Unit]
Description=runcgo VM job
Wants=dbus.socket dbus.service
After=dbus.socket dbus.service

[Service]
Type=oneshot
ExecStart=/run/runcgo-vm/busybox sh /run/runcgo-vm/stage2.sh systemd
ExecStopPost=/run/runcgo-vm/busybox poweroff -f
StandardInput=null
StandardOutput=null
StandardError=null
TimeoutStartSec=infinity
"""

SYSTEMD_CONF = """[Manager]
DefaultStandardOutput=inherit
DefaultStandardError=inherit
ShowStatus=no
LogColor=no
DefaultTimeoutStartSec=30s
"""

# Units that are slow or useless in the throw-away guest.
SYSTEMD_MASK = [
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket",
    "systemd-journal-flush.service",
    "systemd-timesyncd.service",
    "systemd-networkd.service",
    "systemd-resolved.service",
    "systemd-logind.service",
    "systemd-random-seed.service",
    "systemd-remount-fs.service",
    "systemd-fsck-root.service",
    "systemd-tmpfiles-setup.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-update-utmp.service",
    "systemd-sysctl.service",
    "systemd-modules-load.service",
    "systemd-binfmt.service",
    "systemd-boot-system-token.service",
    "systemd-machine-id-commit.service",
    "systemd-firstboot.service",
    "systemd-sysusers.service",
    "systemd-hwdb-update.service",
    "systemd-journal-catalog-update.service",
    "systemd-update-done.service",
    "systemd-pstore.service",
    "systemd-repart.service",
    "systemd-growfs-root.service",
    "systemd-hostnamed.service",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
    "kmod-static-nodes.service",
    "ldconfig.service",
    "apparmor.service",
    "keyboard-setup.service",
    "console-setup.service",
    "networking.service",
    "ifupdown-pre.service",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "man-db.timer",
    "fstrim.timer",
    "logrotate.timer",
    "cron.service",
    "ssh.service",
    "getty.target",
    "serial-getty@ttyS0.service",
    "getty@tty1.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "tmp.mount",
    "swap.target",
    "cryptsetup.target",
    "veritysetup.target",
    "integritysetup.target",
    "remote-fs.target",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
]


def die(msg: str) -> NoReturn:
    print(f"runcgo-vm: {msg}", file=sys.stderr, flush=True)
    sys.exit(VM_FAILURE)


# ---------------------------------------------------------------------------
# Image building (cached)
# ---------------------------------------------------------------------------


def find_kernel(explicit: str | None) -> tuple[str, Path]:
    if explicit:
        p = Path(explicit)
        ver = p.name.removeprefix("vmlinuz-")
        return ver, p
    cands = []
    for p in Path("/boot").glob("vmlinuz-*"):
        ver = p.name.removeprefix("vmlinuz-")
        if Path("/lib/modules", ver, "modules.dep").exists():
            cands.append((ver, p))
    if not cands:
        die(
            "no /boot/vmlinuz-* with matching /lib/modules/<version> (apt-get install linux-image-amd64)"
        )

    def key(c: tuple[str, Path]) -> list[object]:
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", c[0])]

    return sorted(cands, key=key)[-1]


def extract_vmlinux(vmlinuz: Path) -> bytes:
    """Find the compressed payload inside a bzImage and decompress it to an ELF."""
    data = vmlinuz.read_bytes()
    tries: list[tuple[bytes, Callable[[bytes], bytes]]] = [
        (b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(b)),
        (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b)),
        (b"BZh", lambda b: bz2.BZ2Decompressor().decompress(b)),
        (b"\x5d\x00\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(b)),
    ]
    for magic, fn in tries:
        pos = data.find(magic)
        while pos >= 0:
            try:
                out = fn(data[pos:])
            except Exception:
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            pos = data.find(magic, pos + 1)
    die(f"cannot extract an ELF vmlinux from {vmlinuz} (unsupported compression?)")


def module_order(kver: str) -> list[Path]:
    base = Path("/lib/modules", kver)
    deps: dict[str, list[str]] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name: dict[str, str] = {}
    for mod in deps:
        name = Path(mod).name.split(".ko")[0].replace("-", "_")
        by_name[name] = mod
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        # modules.dep lists the full transitive closure; visit each first
        for d in deps.get(mod, []):
            visit(d)
        order.append(mod)

    for name in MODULES:
        found = by_name.get(name.replace("-", "_"))
        if found is None:
            # built into the kernel?
            builtin = base / "modules.builtin"
            if builtin.exists() and any(
                Path(x).name.split(".ko")[0].replace("-", "_") == name.replace("-", "_")
                for x in builtin.read_text().split()
            ):
                continue
            die(f"kernel module {name} not found for {kver}")
        visit(found)
    return [base / m for m in order]


def _module_bytes(p: Path) -> bytes:
    b = p.read_bytes()
    if p.name.endswith(".xz"):
        return lzma.decompress(b)
    if p.name.endswith(".gz"):
        return gzip.decompress(b)
    if p.name.endswith(".zst"):
        out = subprocess.run(["zstd", "-dc", str(p)], check=True, capture_output=True).stdout
        return out
    return b


class Cpio:
    """Minimal newc cpio writer (lets us add device nodes without privileges)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08X}"
            for v in (
                self.ino,
                mode,
                0,
                0,
                1,
                0,
                len(data),
                0,
                0,
                rdev[0],
                rdev[1],
                len(nameb),
                0,
            )
        )
        self.ino += 1
        buf = hdr.encode() + nameb
        buf += b"\0" * (-len(buf) % 4)
        buf += data
        buf += b"\0" * (-len(buf) % 4)
        self.parts.append(buf)

    def dir(self, name: str) -> None:
        self._add(name, 0o040755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._add(name, 0o100000 | perm, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._add(name, 0o020600, rdev=(major, minor))

    def bytes(self) -> bytes:
        self._add("TRAILER!!!", 0)
        return b"".join(self.parts)


def build_initramfs(kver: str) -> bytes:
    busybox = shutil.which("busybox", path="/bin:/usr/bin:/sbin:/usr/sbin")
    if not busybox:
        die("busybox not found (apt-get install busybox-static)")
    bb = Path(busybox).resolve().read_bytes()
    if b"/lib64/ld-linux" in bb[:4096] or b"ld-linux-x86-64" in bb:
        # dynamic busybox won't run from an initramfs without its libraries
        static = Path("/bin/busybox")
        if not static.exists():
            die("need a static busybox (apt-get install busybox-static)")
    c = Cpio()
    for d in (
        "bin",
        "dev",
        "proc",
        "sys",
        "lib",
        "lib/modules",
        "ctl",
        "lower",
        "rw",
        "newroot",
        "etc",
    ):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    c.file("bin/busybox", bb, 0o755)
    c.file("init", INIT_SH.replace("@MSIZE@", str(MSIZE)).encode(), 0o755)
    c.file("stage2.sh", STAGE2_SH.encode(), 0o755)
    names = []
    for p in module_order(kver):
        name = p.name.split(".ko")[0] + ".ko"
        c.file(f"lib/modules/{name}", _module_bytes(p))
        names.append(name)
    c.file("modules.order", ("\n".join(names) + "\n").encode())
    return c.bytes()


def cache_dir(explicit: str | None) -> Path:
    cands = (
        [explicit]
        if explicit
        else [
            os.environ.get("RUNCGO_VM_CACHE"),
            "/var/cache/runcgo-vm",
            os.path.join(os.path.expanduser("~"), ".cache", "runcgo-vm"),
            os.path.join(tempfile.gettempdir(), f"runcgo-vm-{os.getuid()}"),
        ]
    )
    for c in cands:
        if not c:
            continue
        try:
            os.makedirs(c, exist_ok=True)
            if os.access(c, os.W_OK):
                return Path(c)
        except OSError:
            continue
    die("no writable cache directory")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def prepare_images(kernel: str | None, cdir: str | None, log: Log) -> tuple[Path, Path, str]:
    kver, vmlinuz = find_kernel(kernel)
    script_hash = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    st = vmlinuz.stat()
    key = f"{kver}-{st.st_size}-{script_hash}"
    d = cache_dir(cdir) / key
    vmlinux, initrd = d / "vmlinux", d / "initramfs.cpio"
    if not vmlinux.exists() or not initrd.exists():
        t0 = time.monotonic()
        d.mkdir(parents=True, exist_ok=True)
        if not vmlinux.exists():
            _atomic_write(vmlinux, extract_vmlinux(vmlinuz))
        if not initrd.exists():
            _atomic_write(initrd, build_initramfs(kver))
        log(f"built VM images in {d} ({time.monotonic() - t0:.1f}s)")
        # drop stale entries (other kernels/launcher versions), keeping the 4 newest:
        # several worktrees with different launcher versions may share the cache
        olds = sorted(
            (
                o
                for o in d.parent.iterdir()
                if o != d and o.is_dir() and re.match(r".+-\d+-[0-9a-f]{12}$", o.name)
            ),
            key=lambda o: o.stat().st_mtime,
            reverse=True,
        )
        for old in olds[3:]:
            shutil.rmtree(old, ignore_errors=True)
    return vmlinux, initrd, kver


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


class Log:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.t0 = time.monotonic()

    def __call__(self, msg: str) -> None:
        if self.verbose:
            print(
                f"runcgo-vm [{time.monotonic() - self.t0:6.2f}s] {msg}", file=sys.stderr, flush=True
            )


def write_job(ctl: Path, argv: list[str], cwd: str, env: dict[str, str]) -> None:
    envs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    job = (
        "#!/bin/sh\n"
        f"cd {shlex.quote(cwd)} || {{ echo 'runcgo-vm: cannot chdir to '{shlex.quote(cwd)} >&2; exit 125; }}\n"
        f"exec /usr/bin/env -i {envs} {' '.join(shlex.quote(a) for a in argv)}\n"
    )
    (ctl / "job.sh").write_text(job)


def write_units(ctl: Path) -> None:
    u = ctl / "units"
    u.mkdir()
    (u / "runcgo-vm.target").write_text(SYSTEMD_TARGET)
    (u / "runcgo-job.service").write_text(SYSTEMD_SERVICE)
    (ctl / "system.conf").write_text(SYSTEMD_CONF)
    for name in SYSTEMD_MASK:
        os.symlink("/dev/null", u / name)


def _die_with_parent() -> None:
    """In the qemu child: get SIGKILL if the launcher dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class Attempt:
    """What one boot of the guest gave: the command's status, or why the boot stalled."""

    def __init__(self) -> None:
        self.console = bytearray()
        self.rc: int | None = None  # from the console's exit marker (the status file wins)
        self.qrc: int | None = None
        self.failure: str | None = None
        self.stalled: str | None = None
        self.booted = False  # the initramfs /init ran
        self.ready = False  # the new root is up, PID 1 is being exec'd
        self.job = False  # the command has been started: from here on, never retried


def run_qemu(
    qemu_argv: Callable[[int, int], list[str]],
    a: argparse.Namespace,
    log: Log,
    deadline: float,
    procs: list[subprocess.Popen[bytes]],
) -> Attempt:
    """Boot the guest once and relay its output until it powers off.

    A guest that has not started the command within ``a.boot_timeout`` seconds is
    killed and reported as stalled, so the caller can boot again: under TCG a boot very
    rarely hangs before the kernel prints anything (seen once in CI, silent for 20 min
    after SeaBIOS).  Nothing of the command has run then, so a retry is safe.
    """
    res = Attempt()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    t_start = time.monotonic()
    log("starting qemu")
    proc = subprocess.Popen(
        qemu_argv(out_w, err_w),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(out_w, err_w),
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    procs.append(proc)
    os.close(out_w)
    os.close(err_w)
    assert proc.stdout is not None
    con_fd = proc.stdout.fileno()

    sel = selectors.DefaultSelector()
    sinks = {
        out_r: sys.stdout.buffer,
        err_r: sys.stderr.buffer,
    }
    for fd in (out_r, err_r, con_fd):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    con_line = bytearray()
    t_first_out: float | None = None
    open_fds = {out_r, err_r, con_fd}
    timed_out = False

    def on_console_line(line: str) -> None:
        if a.console:
            print(f"[guest] {line}", file=sys.stderr, flush=True)
        if line.startswith(EXIT_MARKER):
            with contextlib.suppress(ValueError):
                res.rc = int(line[len(EXIT_MARKER) :].strip())
        elif FAIL_MARKER in line:
            res.failure = line.split(FAIL_MARKER, 1)[1].strip()
        elif JOB_MARKER in line:
            res.job = True
        elif READY_MARKER in line and not res.ready:
            res.ready = True
            log(f"guest root ready after {time.monotonic() - t_start:.2f}s")
        elif BOOT_MARKER in line:
            res.booted = True

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    try:
        while open_fds:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if not res.job and now - t_start >= a.boot_timeout:
                res.stalled = (
                    "the command never started"
                    if res.ready
                    else "the new root never came up"
                    if res.booted
                    else "the kernel never ran /init"
                )
                kill()
                return res
            wait = min(deadline - now, 1.0)
            for key, _ in sel.select(timeout=wait):
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    continue
                if fd == con_fd:
                    res.console += data
                    con_line += data
                    while b"\n" in con_line:
                        line, _, rest = con_line.partition(b"\n")
                        con_line = bytearray(rest)
                        on_console_line(line.decode(errors="replace").rstrip("\r"))
                else:
                    res.job = True  # output can only come from the command
                    if t_first_out is None:
                        t_first_out = time.monotonic()
                        log(f"first command output after {t_first_out - t_start:.2f}s")
                    sink = sinks[fd]
                    sink.write(data)
                    sink.flush()
            if con_fd not in open_fds and proc.poll() is not None:
                # qemu is gone; drain what's left in the pipes
                for fd in list(open_fds):
                    with contextlib.suppress(OSError):
                        while data := os.read(fd, 65536):
                            sinks[fd].write(data) if fd in sinks else None
                    open_fds.discard(fd)
                break

        if timed_out:
            kill()
            tail = res.console.decode(errors="replace").splitlines()[-20:]
            print("runcgo-vm: guest console (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
            die(
                f"timeout: the VM did not finish within {a.timeout:g}s; qemu (pid {proc.pid}) killed"
            )
        try:
            res.qrc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill()
            res.qrc = proc.returncode
        log(f"qemu exited with {res.qrc} after {time.monotonic() - t_start:.2f}s")
        return res
    finally:
        sel.close()
        for fd in (out_r, err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def _exit_on_signal(signum: int, frame: object) -> None:
    # turn SIGTERM/SIGHUP into SystemExit so the `finally` below kills qemu
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    ap = argparse.ArgumentParser(
        prog="launch.py",
        description="Run CMD inside a throw-away QEMU guest with pure cgroup v2.",
        usage="%(prog)s [options] -- CMD ARGS...",
    )
    ap.add_argument("--systemd", action="store_true", help="boot the host's systemd as PID 1")
    ap.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before the VM is killed (default 600)"
    )
    ap.add_argument(
        "--boot-timeout",
        type=float,
        default=90.0,
        help=f"seconds for the guest to start CMD before it is booted again, "
        f"{BOOT_ATTEMPTS} attempts in all (default 90)",
    )
    ap.add_argument(
        "--share",
        action="append",
        default=[],
        metavar="DIR",
        help="share DIR read-write at the same path",
    )
    ap.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="extra environment for CMD"
    )
    ap.add_argument(
        "--cwd", default=None, help="working directory for CMD (default: the current one)"
    )
    ap.add_argument(
        "--disk",
        type=int,
        default=0,
        metavar="MIB",
        help="attach a blank sparse virtio disk (/dev/vda) of MIB MiB",
    )
    ap.add_argument("--memory", default="4G", help="guest RAM (default 4G)")
    ap.add_argument("--smp", type=int, default=2, help="guest CPUs (default 2)")
    ap.add_argument(
        "--kernel", default=None, help="a /boot/vmlinuz-* to use (default: newest with modules)"
    )
    ap.add_argument("--cache-dir", default=None, help="image cache (default /var/cache/runcgo-vm)")
    ap.add_argument(
        "--console", action="store_true", help="echo the guest's serial console to stderr"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="timings and progress on stderr")
    ap.add_argument("--build-only", action="store_true", help="only build/cache the images")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    log = Log(a.verbose)
    if not cmd and not a.build_only:
        ap.error("no command given (use: -- CMD ARGS...)")

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        die("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    vmlinux, initrd, kver = prepare_images(a.kernel, a.cache_dir, log)
    log(f"kernel {kver}: {vmlinux}")
    if a.build_only:
        return 0

    env = {"PATH": DEFAULT_PATH, "HOME": "/root"}
    for kv in a.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            ap.error(f"--env wants K=V, got {kv!r}")
        env[k] = v
    cwd = os.path.abspath(a.cwd or os.getcwd())
    shares = []
    for s in a.share:
        p = os.path.realpath(s)
        if not os.path.isdir(p):
            die(f"--share {s}: not a directory")
        if any(c in p for c in " \t\n'\"\\$`"):
            die(f"--share {s}: unsupported characters in path")
        shares.append(p)

    ctl = Path(tempfile.mkdtemp(prefix="runcgo-vm-ctl-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        os.chmod(ctl, 0o755)
        write_job(ctl, cmd, cwd, env)
        mode = "systemd" if a.systemd else "plain"
        (ctl / "vm.conf").write_text(f"MODE={mode}\nSHARES='{' '.join(shares)}'\n")
        if a.systemd:
            write_units(ctl)

        kargs = KERNEL_ARGS + (" " + SYSTEMD_KERNEL_ARGS if a.systemd else "")

        def qemu_argv(out_w: int, err_w: int) -> list[str]:
            qargs = [
                qemu,
                "-accel",
                "tcg,thread=multi",
                "-cpu",
                "Nehalem,+rdrand",
                "-m",
                a.memory,
                "-smp",
                str(a.smp),
                "-nographic",
                "-no-reboot",
                "-no-user-config",
                "-nic",
                "none",
                "-kernel",
                str(vmlinux),
                "-initrd",
                str(initrd),
                "-append",
                kargs,
                "-fsdev",
                "local,id=hostroot,path=/,readonly=on,security_model=passthrough,multidevs=remap",
                "-device",
                "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
                "-fsdev",
                f"local,id=ctl,path={ctl},security_model=passthrough",
                "-device",
                "virtio-9p-pci,fsdev=ctl,mount_tag=ctl",
                "-device",
                "virtio-serial-pci",
                "-chardev",
                f"file,id=cout,path=/proc/self/fd/{out_w}",
                "-device",
                "virtserialport,chardev=cout,name=runcgo.stdout",
                "-chardev",
                f"file,id=cerr,path=/proc/self/fd/{err_w}",
                "-device",
                "virtserialport,chardev=cerr,name=runcgo.stderr",
            ]
            for i, p in enumerate(shares):
                qargs += [
                    "-fsdev",
                    f"local,id=share{i},path={p},security_model=passthrough,multidevs=remap",
                    "-device",
                    f"virtio-9p-pci,fsdev=share{i},mount_tag=share{i}",
                ]
            if a.disk:
                disk = ctl / "disk.img"
                with open(disk, "wb") as f:
                    f.truncate(a.disk * 1024 * 1024)
                qargs += ["-drive", f"file={disk},if=virtio,format=raw,cache=unsafe"]
            return qargs

        deadline = time.monotonic() + a.timeout
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            t0 = time.monotonic()
            res = run_qemu(qemu_argv, a, log, deadline, procs)
            if res.stalled is None:
                break
            tail = res.console.decode(errors="replace").splitlines()[-10:]
            print(
                f"runcgo-vm: boot attempt {attempt}/{BOOT_ATTEMPTS}: {res.stalled} "
                f"within {a.boot_timeout:g}s; qemu killed. Console (last lines):\n  "
                + "\n  ".join(tail),
                file=sys.stderr,
                flush=True,
            )
            # a boot that never reached the command does not use up the command's time
            deadline += time.monotonic() - t0
        else:
            die(f"the guest did not boot in {BOOT_ATTEMPTS} attempts ({res.stalled})")
        rc: int | None = None
        with contextlib.suppress(OSError, ValueError):
            rc = int((ctl / "status").read_text().strip())
        if rc is None:
            rc = res.rc
        if rc is None:
            tail = res.console.decode(errors="replace").splitlines()[-30:]
            print("runcgo-vm: guest console (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
            if res.failure:
                die(f"guest setup failed: {res.failure}")
            die(
                f"the guest exited (qemu status {res.qrc}) without reporting the command's exit status"
            )
        return rc
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(ctl, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
