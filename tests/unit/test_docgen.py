"""Man pages, docs/cli.md and the bash completion come from the parsers the commands use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runcgo import cli, docgen

ROOT = Path(__file__).resolve().parents[2]


def _help_flags(cmd: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    with pytest.raises(SystemExit):
        cli.main([cmd, "--help"])
    return set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", capsys.readouterr().out.split("OPTIONS:")[-1]))


def test_docs_cli_md_is_current() -> None:
    """Regenerate with `python -m runcgo.docgen markdown docs/cli.md`."""
    assert (ROOT / "docs" / "cli.md").read_text() == docgen.markdown()


def test_every_command_is_documented() -> None:
    assert {c.name for c in docgen.commands()} == set(cli.COMMANDS)


@pytest.mark.parametrize("cmd", sorted(cli.COMMANDS))
def test_man_page_shows_the_flags_help_shows(cmd: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("man") is None:
        pytest.skip("man (man-db) is not installed")
    docgen.main(["man", str(tmp_path)])
    page = tmp_path / f"runcgo-{cmd}.8"
    text = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, check=True,
                          env={**os.environ, "MANWIDTH": "120", "MAN_KEEP_FORMATTING": "0"}).stdout
    text = re.sub(r".\x08", "", text)  # overstrike bold
    wanted = {f for f in _help_flags(cmd, capsys) if f.startswith("-")}
    shown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text))
    assert wanted <= shown, wanted - shown
    assert f"runcgo-{cmd} - " in text


def _complete(script: Path, words: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Run the completion function as bash would for the command line ``words``
    (the last word is the one being completed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    prog = (f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
            "_runcgo; printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True,
                         env=env or dict(os.environ))
    return [w for w in out.stdout.splitlines() if w]


def test_completion_of_commands_and_flags(tmp_path: Path) -> None:
    script = tmp_path / "runcgo.bash"
    docgen.main(["completion", str(script)])
    assert set(_complete(script, ["runcgo", ""])) >= set(cli.COMMANDS)
    assert _complete(script, ["runcgo", "ch"]) == ["checkpoint"]
    assert _complete(script, ["runcgo", "--ro"]) == ["--root", "--rootless"]
    assert set(_complete(script, ["runcgo", "exec", "--pi"])) == {"--pid-file"}
    assert "--force" in _complete(script, ["runcgo", "--root", "/x", "delete", "--f"])
