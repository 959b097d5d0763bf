"""``spec``: write a default config.json, like ``runc spec``."""

from __future__ import annotations

import json
import os

from ..errors import InvalidArgument
from ..spec import default_spec


async def write_spec(bundle: str, rootless: bool = False) -> str:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise InvalidArgument("File config.json exists. Remove it first.")
    data = json.dumps(default_spec(rootless), indent="\t")
    with open(path, "w") as f:
        f.write(data + "\n")
    return path
