"""Artifacts: a mask, scores or weights file held in memory, with its metadata.

An artifact is its tensors (numpy arrays keyed by the model's parameter names) plus what the
header says about them: the model it fits, how its initial weights are obtained, and the chain
of stages that made it. Per-layer counts and the content hash are derived from the tensors, never
stored separately, so an artifact cannot disagree with itself; the reader recomputes them and
compares with what the file claims.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from maskkit.format import container, tensors
from maskkit.format.files import write_atomic
from maskkit.format.metadata import (
    ENCODINGS,
    METADATA_KEY,
    InitRef,
    LayerCount,
    Metadata,
    ModelBinding,
    StageRecord,
)

if TYPE_CHECKING:
    import torch

A = TypeVar("A", bound="Artifact")


def _as_array(value: Any) -> np.ndarray:
    """numpy view of a numpy array or a CPU/GPU torch tensor (without importing torch)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().contiguous().numpy()
    array = np.asarray(value)
    if not array.flags.c_contiguous:  # (ascontiguousarray would also turn 0-d into 1-d)
        array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


class Artifact:
    """Common part of :class:`Mask`, :class:`Scores` and :class:`Weights`."""

    kind: ClassVar[str]

    def __init__(
        self,
        arrays: Mapping[str, Any],
        *,
        model: ModelBinding | None = None,
        init: InitRef | None = None,
        provenance: Sequence[StageRecord] = (),
    ) -> None:
        self.arrays: dict[str, np.ndarray] = {name: _as_array(a) for name, a in arrays.items()}
        self.model = model or ModelBinding()
        self.init = init
        self.provenance = tuple(provenance)
        self._check_arrays()

    # -- derived -----------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """The tensors the per-layer counts describe (all of them, except for weights)."""
        return list(self.arrays)

    def _kept(self, name: str) -> int:
        """The ``kept`` count of one tensor; each kind says what kept means (spec 6.4)."""
        raise NotImplementedError(f"{type(self).__name__} defines no kept count")

    def _check_arrays(self) -> None:
        """Kind-specific dtype checks on construction."""

    @cached_property
    def layers(self) -> dict[str, LayerCount]:
        return {
            name: LayerCount(tuple(self.arrays[name].shape), self._kept(name))
            for name in sorted(self.layer_names)
        }

    @cached_property
    def content_hash(self) -> str:
        return tensors.array_hash(self.arrays)

    @property
    def numel(self) -> int:
        return sum(c.numel for c in self.layers.values())

    @property
    def kept(self) -> int:
        return sum(c.kept for c in self.layers.values())

    @property
    def density(self) -> float:
        return self.kept / self.numel if self.numel else 1.0

    def densities(self) -> dict[str, float]:
        """Per-layer fraction of kept weights."""
        return {name: c.density for name, c in self.layers.items()}

    def _extra_metadata(self) -> dict[str, Any]:
        return {}

    @property
    def metadata(self) -> Metadata:
        return Metadata(
            kind=self.kind,
            model=self.model,
            init=self.init,
            provenance=self.provenance,
            layers=self.layers,
            content_hash=self.content_hash,
            **self._extra_metadata(),
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors as new torch tensors (the artifact's own arrays are never handed out)."""
        import torch

        return {name: torch.from_numpy(np.array(a)) for name, a in self.arrays.items()}

    def tensor_views(self) -> dict[str, torch.Tensor]:
        """Zero-copy tensors over the artifact's arrays, for callers that only read them.

        Arrays read from a file are views of its immutable bytes: writing to these tensors is
        undefined. Use :meth:`tensors` for tensors of your own.
        """
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's "non-writable array" warning
            return {name: torch.from_numpy(a) for name, a in self.arrays.items()}

    def derive(self: A, record: StageRecord, **changes: Any) -> A:
        """A new artifact of the same kind with ``record`` appended to the provenance chain.

        ``changes`` replace constructor arguments (``arrays``, ``init``, ...); the rest carry over.
        """
        args = self._constructor_args()
        args.update(changes)
        args["provenance"] = (*self.provenance, record)
        return type(self)(**args)

    def _constructor_args(self) -> dict[str, Any]:
        return {
            "arrays": self.arrays,
            "model": self.model,
            "init": self.init,
            "provenance": self.provenance,
        }

    # -- serialisation -----------------------------------------------------------------------
    def _payloads(self) -> dict[str, tuple[str, np.ndarray]]:
        """name -> (stored dtype, stored array)."""
        return {name: (tensors.dtype_name(a), a) for name, a in self.arrays.items()}

    def chunks(self) -> list[memoryview | bytes]:
        payloads = self._payloads()
        order = sorted(payloads, key=lambda n: (-payloads[n][1].dtype.itemsize, n))
        head, _ = container.build_header(
            {METADATA_KEY: self.metadata.to_json()},
            ((name, payloads[name][0], tuple(payloads[name][1].shape)) for name in order),
        )
        return [head] + [memoryview(payloads[n][1].reshape(-1)).cast("B") for n in order]

    def to_bytes(self) -> bytes:
        """The artifact as safetensors bytes (for pipes)."""
        return b"".join(self.chunks())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a temporary file in the same folder, renamed over ``path``."""
        write_atomic(path, self.chunks())

    def __repr__(self) -> str:
        model = self.model.name or "unknown model"
        return (
            f"<{type(self).__name__} {model}: {len(self.layers)} layers, "
            f"{self.kept}/{self.numel} kept ({self.density:.2%})>"
        )


class Mask(Artifact):
    """A pruning mask: one bool tensor per prunable parameter, True = keep."""

    kind = "mask"

    def __init__(self, arrays: Mapping[str, Any], *, encoding: str = "bool", **kwargs: Any) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}")
        self.encoding = encoding
        super().__init__(arrays, **kwargs)

    def _check_arrays(self) -> None:
        for name, a in self.arrays.items():
            if a.dtype != np.bool_:
                raise TypeError(f"mask tensor {name!r} must be bool, not {a.dtype}")

    def _kept(self, name: str) -> int:
        # Popcount of the packed bits (needed for the hash anyway) beats scanning the bytes.
        return tensors.popcount(self._packed[name])

    @cached_property
    def _packed(self) -> dict[str, np.ndarray]:
        return {name: tensors.pack(a) for name, a in self.arrays.items()}

    @cached_property
    def content_hash(self) -> str:
        return tensors.mask_hash(self.arrays, self._packed)

    def _extra_metadata(self) -> dict[str, Any]:
        return {"encoding": self.encoding}

    def _constructor_args(self) -> dict[str, Any]:
        return {**super()._constructor_args(), "encoding": self.encoding}

    def _payloads(self) -> dict[str, tuple[str, np.ndarray]]:
        if self.encoding == "packbits":
            return {name: ("U8", p) for name, p in self._packed.items()}
        return super()._payloads()

    @classmethod
    def _from_packed(
        cls, arrays: Mapping[str, np.ndarray], packed: Mapping[str, np.ndarray], **kwargs: Any
    ) -> Mask:
        """A mask read from packbits tensors: the packed bits the content hash is defined over
        are already at hand, so they seed the cache instead of being packed again."""
        mask = cls(arrays, encoding="packbits", **kwargs)
        mask.__dict__["_packed"] = dict(packed)
        return mask

    def with_encoding(self, encoding: str) -> Mask:
        """The same mask (same content hash) stored in another encoding."""
        return Mask(
            self.arrays,
            encoding=encoding,
            model=self.model,
            init=self.init,
            provenance=self.provenance,
        )


class Scores(Artifact):
    """Pruning scores: one float32 tensor per prunable parameter; higher = keep.

    ``-inf`` marks a weight that an earlier stage pruned: no later stage may keep it.
    """

    kind = "scores"

    def _check_arrays(self) -> None:
        for name, a in self.arrays.items():
            if a.dtype != np.float32:
                raise TypeError(f"scores tensor {name!r} must be float32, not {a.dtype}")

    def _kept(self, name: str) -> int:
        array = self.arrays[name]
        return int(array.size - tensors.neginf_count(array))


class Weights(Artifact):
    """A model's full state_dict; ``prunable`` names the tensors a mask may cover."""

    kind = "weights"

    def __init__(
        self,
        arrays: Mapping[str, Any],
        *,
        prunable: Iterable[str],
        training: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.prunable = sorted(prunable)
        self.training = dict(training) if training is not None else None
        super().__init__(arrays, **kwargs)
        missing = [n for n in self.prunable if n not in self.arrays]
        if missing:
            raise ValueError(f"prunable tensors missing from the weights: {missing}")

    @property
    def layer_names(self) -> list[str]:
        return self.prunable

    def _kept(self, name: str) -> int:
        return int(np.count_nonzero(self.arrays[name]))

    def _extra_metadata(self) -> dict[str, Any]:
        return {"training": self.training}

    def _constructor_args(self) -> dict[str, Any]:
        return {**super()._constructor_args(), "prunable": self.prunable, "training": self.training}


def save(artifact: Artifact, path: str | os.PathLike[str]) -> None:
    """Write ``artifact`` to ``path`` atomically (same as ``artifact.save(path)``)."""
    artifact.save(path)
