"""Resumable runs: verified checkpoints in a locked folder that belongs to one run.

A checkpoint (``DIR/checkpoint_step{K}.pt``) holds everything the next step depends on: model
state (parameters and BatchNorm buffers), optimizer state (momentum buffers), the AMP scaler,
torch's RNG states, the step reached (which fixes the data position) and the running loss sums.

- ``DIR/run.json`` records the run identity: a hash of everything that decides the result
  (options, mask, initial weights and with them the model, the dataset's description and a
  content hash of its tensors, the starting step, the number of processes), and those parts,
  so a folder of another run is refused naming what differs.
- ``DIR/checkpoints.json``, the manifest, lists the last two checkpoints, newest first, with
  their size and SHA-256. It is replaced atomically after the checkpoint it names is in place,
  so a kill at any moment leaves a manifest whose files are complete.
- On resume the newest checkpoint whose bytes match the manifest is loaded (from the verified
  bytes, not a second read); one that does not verify is skipped with a warning, falling back
  to the previous one; when none verifies the folder is refused.
- ``DIR/lock`` is held with ``flock`` for the whole run, so a second trainer is refused at once.
  Under the lock, temporary files of a killed write and checkpoints the manifest no longer
  lists are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
import warnings
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from maskkit.errors import MaskkitWarning, TrainingError
from maskkit.format import write_atomic
from maskkit.format.metadata import canonical_json

if TYPE_CHECKING:
    from maskkit.data.types import Dataset

RUN = "run.json"
MANIFEST = "checkpoints.json"
LOCK = "lock"
CHECKPOINT_VERSION = 2
KEEP = 2
_CHECKPOINT = re.compile(r"^checkpoint_step(\d+)\.pt$")
_TEMPORARY = re.compile(r"^\.(checkpoint_step\d+\.pt|checkpoints\.json|run\.json)\..+\.tmp$")

# What each part of an identity is called in a refusal.
PART_NAMES = {
    "run": "dataset options",
    "options": "training options",
    "dataset": "dataset",
    "data": "training data",
    "initial": "initial weights",
    "masks": "mask",
    "start_step": "starting step",
    "world_size": "number of processes",
}


def run_identity(parts: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``parts``.

    >>> run_identity({"lr": 0.1}) == run_identity({"lr": 0.1})
    True
    """
    return "sha256:" + hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def tensors_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes (for run identities, not a format hash)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{list(t.shape)}\0".encode())
        if t.numel():
            # A view of the tensor's memory: no copy of a dataset's hundreds of megabytes.
            digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return "sha256:" + digest.hexdigest()


_DATA_HASHES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def dataset_hash(dataset: Dataset) -> str:
    """Content hash of both splits' tensors, computed once per dataset object (IMP reuses it)."""
    cached = _DATA_HASHES.get(dataset)
    if cached is None:
        cached = tensors_hash(
            {
                "train.x": dataset.train.x,
                "train.y": dataset.train.y,
                "test.x": dataset.test.x,
                "test.y": dataset.test.y,
            }
        )
        _DATA_HASHES[dataset] = cached
    return cached


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], *, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder/lock`` (created with the folder), or refuse at once.

    The lock file is never deleted: removing it would let a third process lock a new file
    while the second still holds the old one. Where ``fcntl`` is missing (Windows) no lock is
    taken.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise TrainingError(f"{path}: the {what} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise TrainingError(f"{path}: cannot create the {what} ({exc.strerror or exc})") from None
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TrainingError(
                    f"{path}: another process is using this {what} (its lock is held); "
                    "wait for it to finish or use another folder"
                ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_regular(path: Path, size: int) -> bytes:
    """At most ``size + 1`` bytes of a regular file (a wrong size is caught by the caller)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError("not a regular file")
        return f.read(size + 1)


class CheckpointDir:
    """The checkpoint folder of one run, identified by the hash of ``parts``.

    >>> folder = CheckpointDir("ckpt", {"options": {"lr": 0.1}})    # doctest: +SKIP
    >>> with folder.lock():                                          # doctest: +SKIP
    ...     folder.claim(); state = folder.load()
    """

    def __init__(self, path: str | os.PathLike[str], parts: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.parts = dict(parts)
        self.identity = run_identity(self.parts)

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the folder for this process (rank 0) for the whole run; refuses a second one."""
        return folder_lock(self.path, what="checkpoint folder")

    def _refuse(self, recorded: str, parts: Mapping[str, Any] | None) -> TrainingError:
        differ = [
            PART_NAMES.get(key, key)
            for key in sorted(set(self.parts) | set(parts or {}))
            if parts is not None and parts.get(key) != self.parts.get(key)
        ]
        what = ", ".join(differ) if differ else "options, mask, initial weights or data"
        return TrainingError(
            f"{self.path}: the checkpoint folder belongs to another run (run {recorded[:19]}..., "
            f"this run {self.identity[:19]}...: different {what}); "
            "use another checkpoint folder, or delete this one to start over"
        )

    def _json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            raise TrainingError(
                f"{path}: unreadable; delete the checkpoint folder to start over"
            ) from None

    def check(self) -> None:
        """Refuse a folder whose recorded run differs from this one (creating nothing)."""
        if self.path.exists() and not self.path.is_dir():
            raise TrainingError(f"{self.path}: the checkpoint folder is a file")
        run = self.path / RUN
        if run.exists():
            doc = self._json(run)
            recorded = doc.get("identity") if isinstance(doc, dict) else None
            if not isinstance(recorded, str):
                raise TrainingError(f"{run}: no run identity; delete the folder to start over")
            if recorded != self.identity:
                parts = doc.get("parts")
                raise self._refuse(recorded, parts if isinstance(parts, dict) else None)
        elif self.manifest.exists() or any(self._checkpoint_files()):
            raise TrainingError(
                f"{self.path}: holds checkpoints but no {RUN}; delete the folder to start over"
            )
        elif (self.path / "checkpoint.pt").exists():
            raise TrainingError(
                f"{self.path}: holds an unverified checkpoint of an older maskkit; "
                "delete the folder to start over"
            )

    def _checkpoint_files(self) -> list[str]:
        with contextlib.suppress(OSError):
            return [n for n in os.listdir(self.path) if _CHECKPOINT.match(n)]
        return []

    def claim(self) -> None:
        """Record this run in the folder and sweep what a killed write left (rank 0, locked)."""
        self.check()
        run = self.path / RUN
        try:
            if not run.exists():
                text = json.dumps(
                    {"identity": self.identity, "parts": self.parts}, indent=2, sort_keys=True
                )
                write_atomic(run, [text.encode() + b"\n"])
            listed = {entry["file"] for entry in self._entries()}
            for name in os.listdir(self.path):
                stray = _TEMPORARY.match(name) or (_CHECKPOINT.match(name) and name not in listed)
                if stray:
                    (self.path / name).unlink()
        except OSError as exc:
            raise TrainingError(
                f"{self.path}: cannot prepare the checkpoint folder ({exc.strerror or exc})"
            ) from None

    def _entries(self) -> list[dict[str, Any]]:
        """The manifest's entries, newest first ([] without a manifest)."""
        if not self.manifest.exists():
            return []
        doc = self._json(self.manifest)
        entries = doc.get("checkpoints") if isinstance(doc, dict) else None
        if not isinstance(entries, list) or not all(_valid_entry(e) for e in entries):
            raise TrainingError(
                f"{self.manifest}: not a checkpoint manifest; delete the folder to start over"
            )
        if doc.get("identity") != self.identity:
            raise self._refuse(str(doc.get("identity")), None)
        return entries

    def _verified(self, entry: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The state an entry names, or None and why it does not verify."""
        path = self.path / entry["file"]
        try:
            data = _read_regular(path, entry["size"])
        except FileNotFoundError:
            return None, "missing"
        except OSError as exc:
            return None, f"unreadable: {exc.strerror or exc}"
        if len(data) != entry["size"]:
            return None, f"{len(data):,} bytes instead of {entry['size']:,}"
        if "sha256:" + hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return None, "its SHA-256 does not match the manifest"
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # verified bytes that do not unpickle: written by something else
            return None, f"unreadable ({exc})"
        if (
            not isinstance(state, dict)
            or state.get("version") != CHECKPOINT_VERSION
            or state.get("identity") != self.identity
            or state.get("step") != entry["step"]
        ):
            return None, "not this run's checkpoint of that step"
        return state, ""

    def load(self) -> dict[str, Any] | None:
        """The newest checkpoint that verifies, or None when there is none yet.

        A checkpoint that does not verify is skipped with a MaskkitWarning; TrainingError when
        the manifest lists checkpoints and none of them verifies.
        """
        self.check()
        entries = self._entries()
        problems = []
        for entry in entries:
            state, why = self._verified(entry)
            if state is not None:
                if problems:
                    warnings.warn(
                        f"{self.path}: {'; '.join(problems)}; resuming from the previous "
                        f"checkpoint (step {entry['step']})",
                        MaskkitWarning,
                        stacklevel=2,
                    )
                return state
            problems.append(f"{entry['file']} does not verify ({why})")
        if problems:
            raise TrainingError(
                f"{self.path}: no checkpoint verifies ({'; '.join(problems)}); "
                "delete the folder to start over"
            )
        return None

    def last_good(self) -> int | None:
        """The step of the newest checkpoint on disk that verifies now (None if none does)."""
        try:
            entries = self._entries()
        except TrainingError:
            return None
        for entry in entries:
            if self._verified(entry)[0] is not None:
                return int(entry["step"])
        return None

    def save(self, state: Mapping[str, Any]) -> None:
        """Write the checkpoint of ``state["step"]``, then the manifest naming it and the one before.

        Each write is atomic and the manifest comes last, so a kill at any point leaves the
        previous manifest and its files intact; files no longer listed are removed afterwards.
        """
        step = int(state["step"])
        buffer = io.BytesIO()
        torch.save({**state, "version": CHECKPOINT_VERSION, "identity": self.identity}, buffer)
        data = buffer.getbuffer()
        entry = {
            "file": f"checkpoint_step{step}.pt",
            "step": step,
            "size": len(data),
            "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
        }
        listed = self._entries()
        # Only earlier steps stay: after a fall-back, a later checkpoint that did not verify
        # is dropped rather than kept as "newer".
        kept = [entry, *(e for e in listed if e["step"] < step)][:KEEP]
        keep_files = {e["file"] for e in kept}
        doc = {"version": 1, "identity": self.identity, "checkpoints": kept}
        try:
            write_atomic(self.path / entry["file"], [data])
            write_atomic(self.manifest, [(json.dumps(doc, indent=2) + "\n").encode()])
            for old in listed:
                if old["file"] not in keep_files:
                    with contextlib.suppress(FileNotFoundError):
                        (self.path / old["file"]).unlink()
        except OSError as exc:
            raise TrainingError(
                f"{self.path / entry['file']}: cannot write the checkpoint ({exc.strerror or exc})"
            ) from None


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and _CHECKPOINT.match(entry["file"]) is not None
        and all(
            isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool) and entry[k] >= 0
            for k in ("step", "size")
        )
        and isinstance(entry.get("sha256"), str)
    )
