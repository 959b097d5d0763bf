"""``spec``: write a default config.json, like ``runc spec``."""

from __future__ import annotations

import json
import os

from ..errors import InvalidArgument
from ..spec import default_spec


async def write_spec(bundle: str, rootless: bool = False) -> str:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        if _is_shell_redirect(path):
            raise InvalidArgument(
                f"{path} is empty: `runcgo spec` writes config.json itself, as runc does -- "
                "run it without `> config.json` (remove the empty file first; "
                "--bundle DIR writes DIR/config.json)")
        raise InvalidArgument("File config.json exists. Remove it first.")
    data = json.dumps(default_spec(rootless), indent="\t")
    with open(path, "w") as f:
        f.write(data + "\n")
    return path


def _is_shell_redirect(path: str) -> bool:
    """runc-go's README said `spec > config.json`: the shell made the file, empty,
    before we ran (and may have made it our stdout)."""
    try:
        st = os.stat(path)
        if st.st_size == 0:
            return True
        out = os.fstat(1)
    except OSError:
        return False
    return (out.st_dev, out.st_ino) == (st.st_dev, st.st_ino)
