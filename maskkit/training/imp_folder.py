"""The output folder of one IMP run: claimed by its identity, resumed round by round, locked.

``summary.json`` is written before round 0 starts and after every round. It records the run
identity (a hash of everything that decides the rounds: the starting artifact, the weights it
starts from, the training options, the dataset's description and content hash, the rate and
the rewind step; not the number of rounds, so a longer run extends a shorter one), the rounds
done and the content hash of every file written. A rerun into the same folder reuses each
round whose files still match and continues from the first that does not; a folder that holds
another run, or maskkit files without a summary, is refused rather than mixed with this one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from maskkit.errors import MaskkitError, TrainingError
from maskkit.format import Mask, Weights, load, write_atomic
from maskkit.training.checkpoint import folder_lock, run_identity

SUMMARY = "summary.json"
_OURS = re.compile(r"^(round\d+_(mask|weights)|rewind_step\d+)\.safetensors$")

PART_NAMES = {
    "start": "starting artifact",
    "weights": "starting weights",
    "options": "training options",
    "dataset": "dataset",
    "data": "training data",
    "rate": "rate",
    "rewind_step": "rewind step",
}


class ImpFolder:
    """``path`` as the folder of the IMP run whose identity is the hash of ``parts``."""

    def __init__(self, path: str | os.PathLike[str], parts: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.parts = dict(parts)
        self.identity = run_identity(self.parts)
        self.files: dict[str, str] = {}

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Create the folder and hold it for this process; a second IMP run into it is refused."""
        return folder_lock(self.path, what="IMP output folder")

    def _recorded(self) -> dict[str, Any] | None:
        summary = self.path / SUMMARY
        if not summary.exists():
            strays = sorted(n for n in os.listdir(self.path) if _OURS.match(n))
            if strays:
                raise TrainingError(
                    f"{self.path}: holds IMP files ({strays[0]}, ...) but no {SUMMARY}, so they "
                    "cannot be told apart from another run's; use another output folder or "
                    "delete them"
                )
            return None
        try:
            doc = json.loads(summary.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("identity"), str):
            raise TrainingError(
                f"{summary}: not the summary of a maskkit IMP run; use another output folder"
            )
        if doc["identity"] != self.identity:
            parts = doc.get("parts") if isinstance(doc.get("parts"), dict) else {}
            differ = [
                PART_NAMES.get(k, k)
                for k in sorted(set(parts) | set(self.parts))
                if parts.get(k) != self.parts.get(k)
            ]
            raise TrainingError(
                f"{self.path}: holds another IMP run (different "
                f"{', '.join(differ) or 'identity'}); use another output folder, or delete "
                "this one to start over"
            )
        return doc

    def reusable(self, rounds: int) -> tuple[list[dict[str, Any]], Mask | None, Weights | None]:
        """The rows of the rounds already done whose files still match (at most ``rounds + 1``),
        the last of those rounds' mask and trained weights. Refuses a folder of another run."""
        doc = self._recorded()
        if doc is None:
            return [], None, None
        files = doc.get("files") if isinstance(doc.get("files"), dict) else {}
        rows = doc.get("rounds") if isinstance(doc.get("rounds"), list) else []
        done: list[dict[str, Any]] = []
        mask: Mask | None = None
        trained: Weights | None = None
        rewind = doc.get("rewind")
        if not isinstance(rewind, str) or self._artifact(rewind, files, "weights") is None:
            return [], None, None
        self.files[rewind] = files[rewind]
        for r, row in enumerate(rows[: rounds + 1]):
            if not isinstance(row, dict) or row.get("round") != r:
                break
            name = row.get("mask")
            this_mask = None if name is None else self._artifact(name, files, "mask")
            this_weights = self._artifact(row.get("weights"), files, "weights")
            if this_weights is None or (name is not None and this_mask is None):
                break
            for f in (name, row["weights"]):
                if f is not None:
                    self.files[f] = files[f]
            done.append(row)
            mask, trained = this_mask, this_weights  # type: ignore[assignment]
        return done, mask, trained

    def _artifact(self, name: Any, files: Mapping[str, Any], kind: str) -> Any:
        """The artifact ``name`` when its content hash is the one recorded, else None."""
        if (
            not isinstance(name, str)
            or not _OURS.match(name)
            or not isinstance(files.get(name), str)
        ):
            return None
        try:
            artifact = load(str(self.path / name), kind=kind)
        except MaskkitError:
            return None
        return artifact if artifact.content_hash == files[name] else None

    def record(self, name: str, artifact: Mask | Weights) -> None:
        """Note a file written into the folder (its content hash goes into the summary)."""
        self.files[name] = artifact.content_hash

    def write(self, rows: Sequence[Mapping[str, Any]], *, rewind: str, **extra: Any) -> None:
        """Replace the summary atomically: identity, ``extra``, the rounds and the file hashes."""
        doc = {
            "identity": self.identity,
            "parts": self.parts,
            **extra,
            "rewind": rewind if rewind in self.files else None,
            "rounds": list(rows),
            "files": dict(sorted(self.files.items())),
        }
        try:
            write_atomic(self.path / SUMMARY, [(json.dumps(doc, indent=2) + "\n").encode()])
        except OSError as exc:
            raise TrainingError(
                f"{self.path / SUMMARY}: cannot write the summary ({exc.strerror or exc})"
            ) from None
