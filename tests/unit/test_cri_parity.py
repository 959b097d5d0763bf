"""The CRI-suite comparison: what counts as a regression of runcgo against runc, and what
counts as left behind after the bench's teardown (synthetic reports and host views)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))

import cri_bench as cb
import cri_parity as cp


def _spec(texts: list[str], leaf: str, state: str, kind: str = "It") -> dict:
    return {"ContainerHierarchyTexts": texts, "LeafNodeText": leaf, "LeafNodeType": kind,
            "State": state}


def _report(tmp: Path, name: str, specs: list[dict]) -> Path:
    p = tmp / f"{name}.json"
    p.write_text(json.dumps([{"SuiteDescription": "CRI validation", "SpecReports": specs}]))
    return p


def test_report_parsing_and_regressions(tmp_path: Path) -> None:
    runc = _report(tmp_path, "runc", [
        _spec(["[k8s.io] Container", "runtime should support"], "exec", "passed"),
        _spec(["[k8s.io] Image Manager"], "public image with digest", "failed"),
        _spec(["[k8s.io] PodSandbox benchmark"], "lifecycle", "skipped"),
        _spec(["[k8s.io] Security Context"], "NoNewPrivs", "passed"),
        _spec(["[k8s.io] Streaming"], "attach", "passed"),
        _spec([], "", "passed", kind="BeforeSuite"),
    ])
    ours = _report(tmp_path, "test", [
        _spec(["[k8s.io] Container", "runtime should support"], "exec", "passed"),
        _spec(["[k8s.io] Image Manager"], "public image with digest", "failed"),
        _spec(["[k8s.io] PodSandbox benchmark"], "lifecycle", "skipped"),
        _spec(["[k8s.io] Security Context"], "NoNewPrivs", "timedout"),
        # "[k8s.io] Streaming attach" is missing: a regression too
    ])
    theirs, mine = cp.parse_report(runc), cp.parse_report(ours)
    assert theirs == {"[k8s.io] Container runtime should support exec": "pass",
                      "[k8s.io] Image Manager public image with digest": "fail",
                      "[k8s.io] PodSandbox benchmark lifecycle": "skip",
                      "[k8s.io] Security Context NoNewPrivs": "pass",
                      "[k8s.io] Streaming attach": "pass"}
    assert cp.totals(theirs) == "3 passed, 1 failed, 1 skipped"
    assert cp.totals(mine) == "1 passed, 2 failed, 1 skipped"
    # failing where runc fails too is not held against runcgo
    assert cp.compare(theirs, mine) == ["[k8s.io] Security Context NoNewPrivs",
                                        "[k8s.io] Streaming attach"]
    assert cp.compare(theirs, theirs) == []


def test_a_failing_setup_node_is_a_failure(tmp_path: Path) -> None:
    rep = _report(tmp_path, "test", [_spec([], "", "failed", kind="BeforeSuite"),
                                     _spec(["[k8s.io] X"], "y", "skipped")])
    assert cp.parse_report(rep) == {"[BeforeSuite]": "fail", "[k8s.io] X y": "skip"}


def test_leftovers(tmp_path: Path) -> None:
    before = cb.HostSnapshot("tmpfs", {"/sys/fs/cgroup/memory/k8s.io"})
    clean = cb.leftovers(before, cmdlines={1: "/sbin/init", 2: "containerd --config /etc/x"},
                         mountpoints=["/", "/run/containerd"], links=["lo", "eth0"],
                         k8s_parents={"/sys/fs/cgroup/memory/k8s.io"}, cgroup_fs="tmpfs")
    assert clean == []
    w = cb.workdir()
    left = cb.leftovers(
        before,
        cmdlines={7: f"/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -address {cb.SOCK} -id x",
                  8: f"/usr/bin/containerd --config {w}/run/containerd.toml"},
        mountpoints=["/", "/run/containerd-cri/netns/cni-1234", f"{w}/tmp/critest.x/vol"],
        links=["lo", "crib0"],
        k8s_parents={"/sys/fs/cgroup/memory/k8s.io", "/sys/fs/cgroup/pids/k8s.io"},
        cgroup_fs="cgroup2fs")
    assert left == [
        f"process 7: /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -address {cb.SOCK} -id x",
        f"process 8: /usr/bin/containerd --config {w}/run/containerd.toml",
        "mount /run/containerd-cri/netns/cni-1234", f"mount {w}/tmp/critest.x/vol",
        "bridge crib0", "cgroup /sys/fs/cgroup/pids/k8s.io",
        "/sys/fs/cgroup is cgroup2fs, was tmpfs"]
