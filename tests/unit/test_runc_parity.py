"""The runc-suite comparison: what counts as a regression of runcgo against runc."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "suites"))

import runc_parity as rp


def test_tap_parsing_and_regressions(tmp_path: Path) -> None:
    runc, ours = tmp_path / "runc", tmp_path / "runcgo"
    runc.mkdir()
    ours.mkdir()
    (runc / "exec.tap").write_text("1..4\nok 1 runc exec\nok 2 runc exec [tty] # skip needs tty\n"
                                   "not ok 3 checkpoint thing\nok 4 runc exec --user\n# log\n")
    (ours / "exec.tap").write_text("1..4\nok 1 runc exec\nok 2 runc exec [tty] # skip needs tty\n"
                                   "not ok 3 checkpoint thing\nok 4 runc exec --user # skip why\n")
    theirs, mine = rp.parse_results(runc), rp.parse_results(ours)
    assert theirs == {"exec: runc exec": "pass", "exec: runc exec [tty]": "skip",
                      "exec: checkpoint thing": "fail", "exec: runc exec --user": "pass"}
    assert rp.totals(theirs) == "2 passed, 1 failed, 1 skipped"
    # skipped where runc ran it: a regression; failing where runc fails too: not one
    assert rp.compare(theirs, mine) == ["exec: runc exec --user"]
    (ours / "exec.tap").write_text("ok 1 runc exec\nok 4 runc exec --user\n")
    assert rp.compare(theirs, rp.parse_results(ours)) == []


def test_failure_log_is_the_failed_tests_block(tmp_path: Path) -> None:
    (tmp_path / "mounts.tap").write_text(
        "1..3\nok 1 a\nnot ok 2 ro mount [x]\n# (in test file mounts.bats, line 81)\n"
        "# output line\nnot ok 3 other\n# other log\n")
    assert rp.failure_log(tmp_path, "mounts: ro mount [x]") == (
        "not ok 2 ro mount [x]\n# (in test file mounts.bats, line 81)\n# output line")
    assert rp.failure_log(tmp_path, "mounts: other") == "not ok 3 other\n# other log"
    assert "no failure block" in rp.failure_log(tmp_path, "mounts: a")
    assert "no " in rp.failure_log(tmp_path, "exec: missing")


def test_rerun_reports_flaky_and_keeps_repeat_failures(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    """A regression that passes on the re-run is FLAKY (printed, not failing); one that
    fails again stays a regression."""
    def fake_run_suite(suite: Path, runtime: str, out: Path, only: str | None, tag: str) -> int:
        assert only == "exec,mounts" and tag == "runcgo-rerun"
        out.mkdir(parents=True, exist_ok=True)
        (out / "mounts.tap").write_text("1..1\nok 1 ro mount\n")
        (out / "exec.tap").write_text("1..1\nnot ok 1 exec user\n")
        return 1

    monkeypatch.setattr(rp, "run_suite", fake_run_suite)
    args = rp.argparse.Namespace(out=tmp_path, suite=tmp_path, runcgo="/bin/runcgo")
    still = rp.rerun_regressions(args, ["mounts: ro mount", "exec: exec user"])
    assert still == ["exec: exec user"]
    assert "FLAKY (failed once, passed on re-run): mounts: ro mount" in capsys.readouterr().out
