"""/proc/*/mountinfo field decoding, shared by every reader of it.

The kernel writes mount roots and mount points with four bytes escaped as a
backslash and three octal digits (``show_path``/``mangle``): space ``\\040``,
tab ``\\011``, newline ``\\012`` and backslash ``\\134``.  Everything else is the
path's raw bytes, so a field is decoded with the filesystem encoding first
(``os.fsdecode``: undecodable bytes survive as surrogates) and unescaped after.
Anything that is not a well-formed escape is kept as written: a reader of a
mountinfo that changed under it must not fail on a field it doesn't need.
"""

from __future__ import annotations

_OCTAL = frozenset("01234567")


def unescape(field: str) -> str:
    """A mountinfo path field (root or mount point) as the path it names."""
    if "\\" not in field:
        return field
    out: list[str] = []
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        digits = field[i + 1:i + 4]
        if c == "\\" and len(digits) == 3 and _OCTAL.issuperset(digits) and digits[0] in "0123":
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(c)
            i += 1
    return "".join(out)
