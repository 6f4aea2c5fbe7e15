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

from maskkit.errors import FormatError, IntegrityError, KindError, ModelMismatchError
from maskkit.format import container, tensors
from maskkit.format.files import Source, read_file, read_header, write_atomic
from maskkit.format.metadata import (
    ENCODINGS,
    METADATA_KEY,
    InitRef,
    LayerCount,
    Metadata,
    ModelBinding,
    StageRecord,
    metadata_from_header,
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

    def with_encoding(self, encoding: str) -> Mask:
        """The same mask (same content hash) stored in another encoding."""
        return Mask(
            self.arrays,
            encoding=encoding,
            model=self.model,
            init=self.init,
            provenance=self.provenance,
        )

    def apply_to(self, model: torch.nn.Module) -> torch.nn.Module:
        """Zero the pruned weights of ``model`` in place and return it.

        Refuses (ModelMismatchError, listing every mismatch) a model that lacks a masked
        parameter or has it with another shape.
        """
        import torch

        params = dict(model.named_parameters())
        check_fits(self.arrays, {n: tuple(p.shape) for n, p in params.items()}, what="mask")
        with torch.no_grad():
            for name, keep in self.tensors().items():
                param = params[name]
                param.mul_(keep.to(device=param.device, dtype=param.dtype))
        return model

    # The ablations as methods, for the Python API; maskkit.stages holds the implementations.
    def shuffle(self, seed: int) -> Mask:
        """This mask with each layer permuted at random (see :func:`maskkit.stages.shuffle`)."""
        from maskkit import stages

        return stages.shuffle(self, seed)

    def reinit(self, seed: int) -> Mask:
        """This mask, trained from a fresh initialisation (see :func:`maskkit.stages.reinit`)."""
        from maskkit import stages

        return stages.reinit(self, seed)

    def rewind(self, to: str | os.PathLike[str]) -> Mask:
        """This mask, trained from the weights file ``to`` (see :func:`maskkit.stages.rewind`)."""
        from maskkit import stages

        return stages.rewind(self, to)


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

    def to_mask(self, sparsity: float | None = None, **options: Any) -> Mask:
        """The mask these scores imply (see :func:`maskkit.stages.make_mask` for ``options``)."""
        from maskkit import stages

        return stages.make_mask(self, sparsity, **options)


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

    def load_into(self, model: torch.nn.Module) -> torch.nn.Module:
        """Copy these weights into ``model`` (strict: every name and shape must match)."""
        state = model.state_dict()
        check_fits(
            self.arrays, {n: tuple(t.shape) for n, t in state.items()}, what="weights", exact=True
        )
        model.load_state_dict(self.tensors())
        return model


KIND_CLASSES: dict[str, type[Artifact]] = {"mask": Mask, "scores": Scores, "weights": Weights}


def save(artifact: Artifact, path: str | os.PathLike[str]) -> None:
    """Write ``artifact`` to ``path`` atomically (same as ``artifact.save(path)``)."""
    artifact.save(path)


def check_fits(
    arrays: Mapping[str, np.ndarray],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    what: str,
    exact: bool = False,
) -> None:
    """Raise ModelMismatchError listing every tensor that the model lacks or shapes differently.

    ``exact`` also refuses model tensors that the artifact does not provide.
    """
    problems = []
    for name, a in arrays.items():
        if name not in shapes:
            problems.append(f"{name} (not in the model)")
        elif tuple(a.shape) != tuple(shapes[name]):
            problems.append(f"{name} {list(a.shape)} vs model {list(shapes[name])}")
    if exact:
        problems += [f"{name} (missing from the {what})" for name in shapes if name not in arrays]
    if problems:
        shown = "; ".join(problems[:6]) + (
            f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        )
        raise ModelMismatchError(f"the {what} does not fit the model: {shown}")


# -- reading -------------------------------------------------------------------------------------
def load(
    source: Source,
    *,
    kind: str | Sequence[str] | None = None,
    name: str | None = None,
) -> Artifact:
    """Read and fully check an artifact from a path or from bytes.

    ``kind`` (one kind or several) raises KindError for any other kind; ``name`` is the file name
    used in error messages (defaults to the path, or ``<bytes>``).

    >>> mask = load("fixtures/format/valid/mask_bool.safetensors", kind="mask")  # doctest: +SKIP
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        buffer, name = source, name or "<bytes>"
    else:
        name = name or os.fspath(source)
        buffer = read_file(source, name=name, artifact=True)
    header = read_header(buffer, name=name)
    meta = metadata_from_header(header.metadata, source=name)
    expect_kind(meta.kind, kind, source=name)
    return _build(meta, header, buffer, source=name)


def expect_kind(actual: str, wanted: str | Sequence[str] | None, *, source: str) -> None:
    if wanted is None:
        return
    allowed = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    if actual not in allowed:
        raise KindError(f"{source}: is a {actual} artifact, expected {' or '.join(allowed)}")


def _build(meta: Metadata, header: container.Header, buffer: Any, *, source: str) -> Artifact:
    entries = header.tensors
    names = set(meta.layers)
    if meta.kind != "weights" and set(entries) != names:
        extra, missing = sorted(set(entries) - names), sorted(names - set(entries))
        raise FormatError(
            f"{source}: tensors and metadata layers disagree (unlisted: {extra or 'none'}; "
            f"missing: {missing or 'none'})"
        )
    if meta.kind == "weights" and not names <= set(entries):
        raise FormatError(f"{source}: layers {sorted(names - set(entries))} have no tensor")

    def raw(entry: container.TensorEntry) -> np.ndarray:
        start = header.data_start + entry.start
        dtype = tensors.NUMPY_DTYPES.get(entry.dtype)
        if dtype is None:
            raise FormatError(
                f"{source}: tensor {entry.name!r} has dtype {entry.dtype}, not supported"
            )
        array = np.frombuffer(buffer, dtype=dtype, count=entry.numel, offset=start).reshape(
            entry.shape
        )
        return array if array.flags.aligned else array.copy()

    def expect(entry: container.TensorEntry, dtype: str, shape: tuple[int, ...]) -> None:
        if entry.dtype != dtype:
            raise FormatError(f"{source}: tensor {entry.name!r} is {entry.dtype}, expected {dtype}")
        if entry.shape != shape:
            raise FormatError(
                f"{source}: tensor {entry.name!r} has shape {list(entry.shape)} but the "
                f"metadata records {list(shape)}"
            )

    arrays: dict[str, np.ndarray] = {}
    packed: dict[str, np.ndarray] = {}
    for entry in entries.values():
        count = meta.layers.get(entry.name)
        if meta.kind == "mask":
            if meta.encoding == "packbits":
                expect(entry, "U8", (tensors.packed_size(count.numel),))
                packed[entry.name] = bits = raw(entry)
                arrays[entry.name] = tensors.unpack(bits, count.shape)
                _check_padding(entry.name, bits, count.numel, source)
            else:
                expect(entry, "BOOL", count.shape)
                arrays[entry.name] = raw(entry)
        else:
            if count is not None:
                expect(entry, "F32" if meta.kind == "scores" else entry.dtype, count.shape)
            arrays[entry.name] = raw(entry)
            if meta.kind == "scores" and np.isnan(arrays[entry.name]).any():
                raise FormatError(f"{source}: scores tensor {entry.name!r} contains NaN")

    if meta.kind == "mask" and meta.encoding == "bool":
        _check_bool_bytes(buffer, header, source)
    common = {"model": meta.model, "init": meta.init, "provenance": meta.provenance}
    if meta.kind == "mask":
        artifact: Artifact = Mask(arrays, encoding=meta.encoding or "bool", **common)
        if packed:
            # The file already holds the packed bits the content hash is defined over.
            artifact.__dict__["_packed"] = packed
    elif meta.kind == "scores":
        artifact = Scores(arrays, **common)
    else:
        artifact = Weights(arrays, prunable=meta.layers, training=meta.training, **common)

    for name, recorded in meta.layers.items():
        actual = artifact.layers[name]
        if actual.kept != recorded.kept:
            raise IntegrityError(
                f"{source}: layer {name!r} records {recorded.kept} kept but its tensor has {actual.kept}"
            )
    if artifact.content_hash != meta.content_hash:
        raise IntegrityError(
            f"{source}: content hash mismatch: the tensors hash to {artifact.content_hash}, "
            f"the header records {meta.content_hash} (the file is corrupt or was edited)"
        )
    return artifact


def _check_bool_bytes(buffer: Any, header: container.Header, source: str) -> None:
    # Every tensor of a bool mask is BOOL, so one pass over the whole data section suffices.
    data = np.frombuffer(buffer, dtype=np.uint8, offset=header.data_start)
    if data.size and data.max() > 1:
        at = header.data_start + int(np.argmax(data > 1))
        entry = next(e for e in header.tensors.values() if e.start <= at - header.data_start < e.end)
        raise FormatError(f"{source}: mask tensor {entry.name!r} holds values other than 0 and 1")


def _check_padding(name: str, bits: np.ndarray, numel: int, source: str) -> None:
    spare = bits.size * 8 - numel
    if spare and int(bits[-1]) >> (8 - spare):
        raise FormatError(f"{source}: packbits tensor {name!r} has non-zero padding bits")
