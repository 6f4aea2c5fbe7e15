"""Resumable runs: one checkpoint file per run folder, replaced atomically.

``DIR/checkpoint.pt`` holds everything the next step depends on: model state (parameters and
BatchNorm buffers), optimizer state (momentum buffers), the AMP scaler, torch's RNG states, the
step reached (which fixes the data position: epoch = step // steps_per_epoch, batch = the rest)
and the running loss sums. ``DIR/run.json`` records the run identity, a hash of everything that
decides the result (options, mask, initial weights, dataset, model, world size). A folder that
belongs to another run is refused rather than silently resumed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from maskkit.errors import TrainingError
from maskkit.format import write_atomic
from maskkit.format.metadata import canonical_json

CHECKPOINT = "checkpoint.pt"
RUN = "run.json"
CHECKPOINT_VERSION = 1


def run_identity(parts: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``parts``.

    >>> run_identity({"lr": 0.1}) == run_identity({"lr": 0.1})
    True
    """
    return "sha256:" + hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointDir:
    """The checkpoint folder of one run, identified by ``identity``.

    >>> folder = CheckpointDir("ckpt", "sha256:ab...", describe={"lr": 0.1})   # doctest: +SKIP
    >>> folder.claim(); state = folder.load()                                  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        identity: str,
        *,
        describe: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.identity = identity
        self.describe = dict(describe or {})

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def _refuse(self, other: str) -> TrainingError:
        return TrainingError(
            f"{self.path}: the checkpoint folder belongs to another run (run {other[:19]}..., "
            f"this run {self.identity[:19]}...: different options, mask or initial weights); "
            "use another --checkpoint-dir, or delete the folder to start over"
        )

    def check(self) -> None:
        """Refuse a folder whose recorded run differs from this one (creating nothing)."""
        if self.path.exists() and not self.path.is_dir():
            raise TrainingError(f"{self.path}: checkpoint folder is a file")
        run = self.path / RUN
        if run.exists():
            try:
                recorded = json.loads(run.read_text())["identity"]
            except (OSError, ValueError, KeyError, TypeError):
                raise TrainingError(
                    f"{run}: unreadable run record; delete the folder to start over"
                ) from None
            if recorded != self.identity:
                raise self._refuse(recorded)
        elif self.checkpoint.exists():
            raise TrainingError(
                f"{self.path}: holds a checkpoint but no {RUN}; delete the folder to start over"
            )

    def claim(self) -> None:
        """Create the folder and record this run in it (rank 0 only)."""
        self.check()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(
                f"{self.path}: cannot create the checkpoint folder ({exc.strerror or exc})"
            ) from None
        run = self.path / RUN
        if not run.exists():
            text = json.dumps(
                {"identity": self.identity, "run": self.describe}, indent=2, sort_keys=True
            )
            write_atomic(run, [text.encode() + b"\n"])

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint of this run, or None when there is none yet."""
        self.check()
        if not self.checkpoint.exists():
            return None
        try:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unpickling/format failure means the same thing here
            raise TrainingError(
                f"{self.checkpoint}: unreadable checkpoint ({exc}); delete the folder to start over"
            ) from None
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise TrainingError(
                f"{self.checkpoint}: not a maskkit checkpoint of version {CHECKPOINT_VERSION}"
            )
        if state.get("identity") != self.identity:
            raise self._refuse(str(state.get("identity")))
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Replace the checkpoint atomically: a kill during the write keeps the previous one."""
        buffer = io.BytesIO()
        torch.save({**state, "version": CHECKPOINT_VERSION, "identity": self.identity}, buffer)
        try:
            write_atomic(self.checkpoint, [buffer.getbuffer()])
        except OSError as exc:
            raise TrainingError(
                f"{self.checkpoint}: cannot write the checkpoint ({exc.strerror or exc})"
            ) from None
