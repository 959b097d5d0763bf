"""Config decoding and validation: every error names the JSON path and the value."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runcgo import spec as S
from runcgo.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def bundle_with(tmp_path: Path, cfg: dict[str, Any]) -> str:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def base() -> dict[str, Any]:
    cfg = S.default_spec()
    cfg["process"]["terminal"] = False
    return cfg


def test_default_spec_is_valid(tmp_path: Path) -> None:
    spec = S.load_config(bundle_with(tmp_path, base()))
    assert spec.process is not None and spec.process.args == ["sh"]
    assert S.namespaces(spec) == {t: None for t in ("pid", "network", "ipc", "uts", "mount")}


def test_docker_config_decodes(tmp_path: Path) -> None:
    cfg = json.loads((FIXTURES / "config.plain.json").read_text())
    cfg["root"]["path"] = "rootfs"
    spec = S.load_config(bundle_with(tmp_path, cfg))
    assert spec.linux is not None and spec.linux.seccomp is not None
    assert spec.linux.seccomp.default_action == "SCMP_ACT_ERRNO"
    assert spec.hooks is not None and spec.hooks.prestart is not None
    assert spec.linux.resources is not None and spec.linux.resources.block_io is not None


@pytest.mark.parametrize(("edit", "path", "words"), [
    (lambda c: c["process"]["user"].__setitem__("uid", "0"), "$.process.user.uid", ["int", "str"]),
    (lambda c: c["process"].pop("args"), "$.process.args", ["at least one"]),
    (lambda c: c["process"].__setitem__("args", []), "$.process.args", []),
    (lambda c: c["process"].__setitem__("cwd", "rel"), "$.process.cwd", ["'rel'"]),
    (lambda c: c.__setitem__("ociVersion", "2.0.0"), "$.ociVersion", ["2.0.0"]),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "$.linux.namespaces[5].type", ["bogus"]),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "$.linux.namespaces[5].type", ["duplicate"]),
    (lambda c: c["mounts"].append({"destination": "x"}), "$.mounts[7].destination", ["'x'"]),
    (lambda c: c["mounts"].append({"destination": "/a/../../b"}), "$.mounts[7].destination", [".."]),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
     "$.process.rlimits[0].type", ["RLIMIT_FOO"]),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]),
     "$.process.rlimits[0]", ["exceeds"]),
    (lambda c: c["process"].__setitem__("oomScoreAdj", 5000), "$.process.oomScoreAdj", ["5000"]),
    (lambda c: c["linux"].__setitem__("rootfsPropagation", "sideways"), "$.linux.rootfsPropagation", ["sideways"]),
    (lambda c: c["linux"].__setitem__("devices", [{"path": "/dev/x", "type": "q"}]), "$.linux.devices[0].type", ["'q'"]),
    (lambda c: c["linux"].__setitem__("devices", [{"path": "/etc/x", "type": "c"}]), "$.linux.devices[0].path", ["/etc/x"]),
    (lambda c: c["linux"].__setitem__("namespaces", [{"type": "mount"}]), "$.hostname", ["uts"]),
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "$.linux.uidMappings", ["Mappings"]),
    (lambda c: c.__setitem__("hooks", {"prestart": [{"path": "rel/hook"}]}), "$.hooks.prestart[0].path", ["rel/hook"]),
    (lambda c: c.__setitem__("hooks", {"poststop": [{"path": "/h", "timeout": 0}]}), "$.hooks.poststop[0].timeout", []),
    (lambda c: c["root"].__setitem__("path", "missing"), "$.root.path", ["missing"]),
    (lambda c: c["process"].__setitem__("env", ["NOEQUALS"]), "$.process.env[0]", ["NOEQUALS"]),
])
def test_errors_name_path_and_value(tmp_path: Path, edit, path: str, words: list[str]) -> None:
    cfg = base()
    edit(cfg)
    with pytest.raises(ConfigError) as ei:
        S.load_config(bundle_with(tmp_path, cfg))
    assert ei.value.path == path
    text = str(ei.value)
    assert "\n" not in text
    for w in words:
        assert w in text


def test_malformed_json(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        S.load_config(str(tmp_path))


def test_unknown_fields_are_tolerated(tmp_path: Path) -> None:
    cfg = base()
    cfg["someFutureField"] = {"x": 1}
    cfg["process"]["newThing"] = True
    cfg["annotations"] = {"org.example/unknown": "v"}
    assert S.load_config(bundle_with(tmp_path, cfg)).annotations == {"org.example/unknown": "v"}


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(["process", "root", "mounts", "linux", "hooks", "hostname", "annotations",
                            "process.user", "process.args", "process.rlimits", "linux.resources",
                            "linux.namespaces", "linux.seccomp", "linux.devices", "process.capabilities"]),
       value=_json)
def test_fuzzed_fields_give_config_errors_only(tmp_path_factory, key: str, value: Any) -> None:
    """Any value anywhere: either a valid config or a ConfigError, never a crash."""
    d = tmp_path_factory.mktemp("fuzz")
    cfg = base()
    cur = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        cur = cur[p]
    cur[parts[-1]] = value
    try:
        S.load_config(bundle_with(d, cfg))
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
    assert os.path.isdir(d)
