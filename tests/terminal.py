"""Running a command with its stderr on a real terminal (a pty), as a user at a shell sees it."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def stderr_on_a_terminal(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> tuple[int, bytes]:
    """Run ``args`` with stdin and stdout closed off and stderr on a pty; (exit code, bytes)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower,
        cwd=cwd, env=dict(env),
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return process.wait(timeout=timeout), seen
