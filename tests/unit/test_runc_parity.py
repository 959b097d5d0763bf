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
