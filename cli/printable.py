"""One helper that makes text from a file safe to print on a terminal.

Names, paths and values in an artifact are chosen by whoever made the file. Printed raw, an ANSI
escape recolours or clears the screen, a newline forges a second ``maskkit: error:`` line, and a
bidi override reorders what the reader sees. Every report and every error line goes through
:func:`printable`; ``--json`` needs nothing more, since ``json.dumps`` escapes all of these.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls, line and paragraph separators, the bidi embeddings,
# overrides, isolates and marks, and lone surrogates (which cannot even be encoded).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, separator and bidi character written as ``\\xNN``/``\\uNNNN``.

    >>> printable("conv\\n\\x1b[31mmaskkit: error: forged")
    'conv\\\\x0a\\\\x1b[31mmaskkit: error: forged'
    """
    return _UNSAFE.sub(_escape, text)
