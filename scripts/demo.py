"""One real container: a busybox bundle made with `runcgo spec`, run with `runcgo run`.

    .venv/bin/python scripts/demo.py [COMMAND ...]

Run by scripts/demo.sh (after bootstrap) and by `nox -s demo`.  Prints what it
does in a few lines, then the container's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import bundles  # noqa: E402  (the test helpers build the busybox rootfs)

DEFAULT = ["sh", "-c", "echo hello from $(hostname), I am PID $$ as $(id -un); "
                       "echo my mounts:; cut -d' ' -f5,9 /proc/self/mountinfo | head -8"]


def main(argv: list[str]) -> int:
    runcgo = os.path.join(os.path.dirname(sys.executable), "runcgo")
    with tempfile.TemporaryDirectory(prefix="runcgo-demo-") as tmp:
        bundle = os.path.join(tmp, "bundle")
        os.makedirs(bundle)
        bundles.make_rootfs(os.path.join(bundle, "rootfs"))
        subprocess.run([runcgo, "spec", "--bundle", bundle], check=True)
        path = os.path.join(bundle, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["linux"]["cgroupsPath"] = "/runcgo-demo"
        cfg["process"]["args"] = argv or DEFAULT
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        print(f"demo: `runcgo spec` wrote {path}; running it with `runcgo run`:", flush=True)
        return subprocess.run([runcgo, "--root", os.path.join(tmp, "state"), "run",
                               "--bundle", bundle, "runcgo-demo"]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
