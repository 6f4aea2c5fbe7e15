"""What every artifact-writing stage does around its library call: check the output, then write.

The output is opened before any work so that a long stage never fails at its last step on a
terminal stdout or a missing folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from maskkit_cli.streams import Output

if TYPE_CHECKING:
    from maskkit.format import Artifact


def run_stage(output: str | None, make: Callable[[], Artifact]) -> None:
    """Open ``output`` (path or stdout), build the artifact, write it atomically."""
    out = Output.open(output)
    out.write(make())
