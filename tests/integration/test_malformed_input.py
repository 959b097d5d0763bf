"""Malformed input of every kind ends in ONE line naming the file and the offset or
field, with runc's exit code, and never a Python traceback.

The CLI runs in a fresh interpreter that has not imported the stdlib json package,
which is exactly when the C scanner used to fail with a 20-line
``SystemError: <_json.Scanner object> returned NULL without setting an exception``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import Runcgo


def one_line(r, code: int, *needles: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.mark.parametrize("cut", [1, 2, 60, 61, 200, -2, -1])
@pytest.mark.parametrize("cmd", ["create", "run"])
def test_truncated_config(runcgo: Runcgo, cut: int, cmd: str) -> None:
    cid, bundle = runcgo.bundle()
    text = (bundle / "config.json").read_text()
    (bundle / "config.json").write_text(text[:cut])
    line = one_line(runcgo(cmd, "--bundle", str(bundle), cid), 1,
                    "config.json: invalid JSON at offset ")
    assert line.startswith(f"runcgo: {cmd} failed: ")
    assert not (runcgo.root / cid).exists()


@pytest.mark.parametrize("content, needle", [
    (b'{"ociVersion": "1.0.2", "process": {"args": ["\\x"]}}', "offset 46 (line 1, column 47): invalid \\escape"),
    (b'{"ociVersion": "1.0.2", "x": "\xff"}', "offset 30 (line 1, column 31): invalid UTF-8 byte 0xff"),
    (b"\xef\xbb\xbf{}", "offset 0 (line 1, column 1): a byte-order mark is not allowed"),
    (b'{"a": NaN}', "NaN is not JSON"),
    (b"[" * 100000, "nested too deeply"),
    (b'{"ociVersion": "1.0.2"} {}', "offset 24 (line 1, column 25): extra data"),
    (b"[]", "$: expected object, got array"),
    (b"", "offset 0 (line 1, column 1): expecting value"),
])
def test_malformed_config(runcgo: Runcgo, content: bytes, needle: str) -> None:
    cid, bundle = runcgo.bundle()
    (bundle / "config.json").write_bytes(content)
    one_line(runcgo("create", "--bundle", str(bundle), cid), 1, needle)
    assert not (runcgo.root / cid).exists()


@pytest.fixture
def created(runcgo: Runcgo):
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("create", "--bundle", str(bundle), cid, check=True)
    yield cid
    runcgo("delete", "--force", cid)


def _damage_then_restore(runcgo: Runcgo, cid: str, damaged: bytes):
    path = runcgo.root / cid / "state.json"
    good = path.read_bytes()
    path.write_bytes(damaged)
    return path, good


@pytest.mark.parametrize("damage", ["truncate", "not-object", "wrong-type", "missing-field"])
def test_damaged_state_json(runcgo: Runcgo, created: str, damage: str) -> None:
    cid = created
    good = (runcgo.root / cid / "state.json").read_bytes()
    doc = json.loads(good)
    damaged = {
        "truncate": good[: len(good) // 2],
        "not-object": b"[1, 2]",
        "wrong-type": json.dumps({**doc, "pid": "12"}).encode(),
        "missing-field": json.dumps({k: v for k, v in doc.items() if k != "bundle"}).encode(),
    }[damage]
    path, good = _damage_then_restore(runcgo, cid, damaged)
    try:
        # (`delete --force` cleans such a container up: tests/integration/test_damaged_state.py)
        for args in (("state", cid), ("delete", cid), ("kill", cid, "KILL"), ("start", cid)):
            line = one_line(runcgo(*args), 1, f"container {cid}: {path}: ")
            assert {"truncate": "invalid JSON at offset", "not-object": "not a JSON object",
                    "wrong-type": "field 'pid' has the wrong type",
                    "missing-field": "missing field 'bundle'"}[damage] in line
        exec_r = runcgo("exec", cid, "true")
        one_line(exec_r, exec_r.returncode, str(path))
        assert exec_r.returncode in (1, 255)
        r = runcgo("list")  # a damaged container does not break the listing
        assert r.returncode == 0 and "Traceback" not in r.stderr
    finally:
        path.write_bytes(good)


@pytest.fixture
def running(runcgo: Runcgo):
    cid, bundle = runcgo.bundle(["sleep", "300"])
    runcgo("run", "-d", "--bundle", str(bundle), cid, check=True)
    yield cid
    runcgo("delete", "--force", cid)


def test_malformed_process_json(runcgo: Runcgo, running: str, tmp_path: Path) -> None:
    cid = running
    proc = tmp_path / "process.json"
    good = json.dumps({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    ok = runcgo("exec", "--process", str(proc), cid)
    assert ok.returncode != 0 and "Traceback" not in ok.stderr  # missing file
    for content, needle in ((good[:20], f"{proc}: invalid JSON at offset 19"),
                            ('{"args": ["\\ud800"]}', "$.args[0]"),
                            ('{"args": "true"}', "$.args: expected array, got str"),
                            ('{"args": ["true"], "user": {"uid": 1e3}}', "$.user.uid"),
                            ("\xff", "invalid JSON")):
        proc.write_text(content, errors="surrogateescape")
        r = runcgo("exec", "--process", str(proc), cid)
        one_line(r, r.returncode, needle)
        assert r.returncode in (1, 255)
    proc.write_text(good)
    assert runcgo("exec", "--process", str(proc), cid).returncode == 0


def test_malformed_update_resources(runcgo: Runcgo, running: str, tmp_path: Path) -> None:
    cid = running
    res = tmp_path / "res.json"
    for content, needle in (('{"memory": {"limit": 1', "--resources: invalid JSON at offset 22"),
                            ('{"memory": {"limit": "1G"}}', "$.memory.limit: expected int, got str"),
                            ("[]", "$: expected object, got array"),
                            ('{"pids": {"limit": 1e999}}', "$.pids.limit")):
        res.write_text(content)
        one_line(runcgo("update", "-r", str(res), cid), 1, needle)
        one_line(runcgo("update", "-r", "-", cid, input=content), 1, needle)


@pytest.mark.parametrize("argv, needle", [
    (["create"], "container id is required"),
    (["create", "--preserve-fds", "x", "c"], "--preserve-fds"),
    (["create", "--bundle"], "--bundle"),
    (["kill", "c", "SIGNOPE"], "SIGNOPE"),
    (["kill", "c", "99999"], "99999"),
    (["delete"], "ID"),
    (["state", "../x"], "invalid container id"),
    (["state", "x" * 2000], "invalid container id"),
    (["events", "--interval", "-1s", "c"], "invalid duration"),
    (["events", "--interval", "5y", "c"], "invalid duration"),
    (["exec", "-g", "x", "c", "true"], "-g"),
    (["update", "--memory", "lots", "c"], "--memory"),
    (["--log-format", "yaml", "state", "c"], "log format"),
    (["--root"], "--root"),
    (["nosuchcommand"], "No help topic for"),
    (["list", "--format", "xml"], "--format"),
])
def test_bad_arguments(runcgo: Runcgo, argv: list[str], needle: str) -> None:
    r = runcgo(*argv)
    assert r.returncode != 0
    one_line(r, r.returncode, needle)
    assert not os.path.exists(runcgo.root / "c")


def test_hook_failure_with_multiline_output_is_one_line(runcgo: Runcgo) -> None:
    """A failing hook's stderr (several lines) becomes part of one error line."""
    cid, bundle = runcgo.bundle()
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
        "sh", "-c", "echo first line >&2; echo second line >&2; exit 3"]}]}
    (bundle / "config.json").write_text(json.dumps(cfg))
    line = one_line(runcgo("run", "--bundle", str(bundle), cid), 1, "first line", "second line")
    assert "\\n" in line
    assert not (runcgo.root / cid).exists()


def test_poststop_hook_garbage_in_saved_state(runcgo: Runcgo, created: str) -> None:
    """The hooks saved in state.json (for poststart/poststop) are damaged: delete still
    says one line."""
    path = runcgo.root / created / "state.json"
    doc = json.loads(path.read_text())
    doc["config"]["hooks"] = {"poststop": [{"path": 5}]}
    path.write_text(json.dumps(doc))
    r = runcgo("delete", "--force", created)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 1, r.stderr
