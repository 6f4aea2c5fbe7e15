"""The maskkit metadata document: what a file fits, how it was made, and what it holds.

The document is one JSON object stored as canonical JSON under the single ``__metadata__`` key
``maskkit`` (safetensors does not keep the order of several keys, and one key keeps files
byte-reproducible). ``spec/format-v1.md`` is the normative description; this module is its
reader and writer and imports neither numpy nor torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit.errors import FormatError, VersionError
from maskkit.format import strict_json
from maskkit.format.container import check_shape

FORMAT_NAME = "maskkit"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
FORMAT_VERSION = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"
METADATA_KEY = "maskkit"
KINDS = ("mask", "scores", "weights")
ENCODINGS = ("bool", "packbits")

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = ("format", "version", "kind", "model", "init", "provenance", "layers", "content_hash")
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only, no NaN: the same value always gives the same text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def fingerprint(shapes: Iterable[tuple[str, Sequence[int]]]) -> str:
    """The model fingerprint: SHA-256 over ``name<TAB>d0,d1,...<LF>`` lines in sorted name order.

    Plain text rather than JSON so that a reader in any language computes it in a few lines.

    >>> fingerprint([("fc.weight", (10, 4)), ("fc.bias", (10,))])[:15]
    'sha256:61159038'
    """
    lines = sorted(f"{name}\t{','.join(str(int(d)) for d in shape)}\n" for name, shape in shapes)
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelBinding:
    """Which model a file fits.

    ``fingerprint`` None means the parameter layout is unknown (a mask imported without a
    model); ``name`` None means the model cannot be rebuilt, though its layout may be known (a
    module scored directly). A named model always has its fingerprint: whoever names it built it.
    """

    name: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None and self.fingerprint is None:
            raise ValueError(f"model {self.name!r} needs its fingerprint (spec §6.1)")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args), "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class InitRef:
    """How to obtain the initial weights: the model's initialiser with a seed, or a weights file."""

    seed: int | None = None
    sha256: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if (self.seed is None) == (self.sha256 is None):
            raise ValueError("InitRef needs exactly one of seed or sha256")

    def to_dict(self) -> dict[str, Any]:
        if self.seed is not None:
            return {"type": "seed", "seed": self.seed}
        return {"type": "weights", "sha256": self.sha256, "path": self.path}


@dataclass(frozen=True)
class StageRecord:
    """One entry of the provenance chain: a stage, its options, and the hash of what it read."""

    stage: str
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    input: str | None = None
    maskkit: str = ""

    @classmethod
    def of(
        cls,
        stage: str,
        options: Mapping[str, Any],
        *,
        seed: int | None = None,
        input: Any = None,
    ) -> StageRecord:
        """The record of ``stage`` run now, by this maskkit version, on ``input``: an artifact
        (its content hash is recorded), the SHA-256 hex of a foreign file, or None."""
        from maskkit._version import __version__

        digest = input if input is None or isinstance(input, str) else input.content_hash
        return cls(stage=stage, options=dict(options), seed=seed, input=digest, maskkit=__version__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "options": dict(self.options),
            "seed": self.seed,
            "input": self.input,
            "maskkit": self.maskkit,
        }


@dataclass(frozen=True)
class LayerCount:
    """Per-layer counts written to the header so densities are readable without the data."""

    shape: tuple[int, ...]
    kept: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def density(self) -> float:
        return self.kept / self.numel if self.numel else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "numel": self.numel, "kept": self.kept}


@dataclass(frozen=True)
class Metadata:
    """The whole document as read from (or written to) a file."""

    kind: str
    model: ModelBinding
    init: InitRef | None
    provenance: tuple[StageRecord, ...]
    layers: Mapping[str, LayerCount]
    content_hash: str
    encoding: str | None = None  # masks only
    training: Mapping[str, Any] | None = None  # weights only
    version: str = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "model": self.model.to_dict(),
            "init": self.init.to_dict() if self.init else None,
            "provenance": [r.to_dict() for r in self.provenance],
            "layers": {name: c.to_dict() for name, c in self.layers.items()},
            "content_hash": self.content_hash,
        }
        if self.kind == "mask":
            doc["encoding"] = self.encoding
        if self.training is not None:
            doc["training"] = dict(self.training)
        return doc

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @property
    def numel(self) -> int:
        return sum(c.numel for c in self.layers.values())

    @property
    def kept(self) -> int:
        return sum(c.kept for c in self.layers.values())


def metadata_from_header(metadata: Mapping[str, str] | None, *, name: str) -> Metadata:
    """Find, parse and validate the maskkit document in a safetensors ``__metadata__`` map."""
    if not metadata or METADATA_KEY not in metadata:
        foreign = (
            f"{name}: not a maskkit artifact (a safetensors file without '{METADATA_KEY}' "
            "metadata); to use its tensors as a mask, import it with"
        )
        raise FormatError(
            f"{foreign} maskkit.import_mask(..., model=NAME)",
            cli_message=f"{foreign} 'maskkit convert --model NAME'",
        )
    doc = strict_json.loads(metadata[METADATA_KEY], name=name, what="maskkit metadata")
    return parse_metadata(doc, name=name)


def parse_metadata(doc: Any, *, name: str) -> Metadata:
    """Validate a decoded document; unknown keys are ignored (they may come from a newer minor).

    The version is checked before the keys it defines: a file of another major version is a
    VersionError whatever else it lacks.
    """
    p = _Checker(name)
    p.require(isinstance(doc, dict), "maskkit metadata is not a JSON object")
    p.require(doc.get("format") == FORMAT_NAME, f"metadata 'format' is not {FORMAT_NAME!r}")
    version = doc.get("version")
    match = _VERSION.match(version) if isinstance(version, str) else None
    p.require(match is not None, f"metadata 'version' {_show(version)} is not MAJOR.MINOR")
    if int(match.group(1)) != FORMAT_MAJOR:
        raise VersionError(
            f"{name}: format version {version} is not supported (this maskkit reads "
            f"{FORMAT_MAJOR}.x); upgrade maskkit"
        )
    missing = [key for key in _REQUIRED if key not in doc]
    p.require(not missing, f"metadata lacks required key(s): {', '.join(missing)}")
    kind = doc.get("kind")
    p.require(kind in KINDS, f"'kind' is {_show(kind)}, expected one of {', '.join(KINDS)}")

    model = p.obj(doc, "model")
    model_name, args, fp = model.get("name"), model.get("args"), model.get("fingerprint")
    p.require(
        model_name is None or (isinstance(model_name, str) and model_name),
        "'model.name' must be a string or null",
    )
    p.require(isinstance(args, dict), "'model.args' must be an object")
    p.require(fp is None or _is_hash(fp), "'model.fingerprint' must be 'sha256:<64 hex>' or null")
    p.require(
        model_name is None or fp is not None,
        "'model.fingerprint' is null but 'model.name' is set (a named model has a known layout)",
    )

    layers_doc = p.obj(doc, "layers")
    layers = {n: p.layer(n, c) for n, c in layers_doc.items()}
    content_hash = doc.get("content_hash")
    p.require(_is_hash(content_hash), "'content_hash' must be 'sha256:<64 hex>'")

    encoding = None
    if kind == "mask":
        encoding = doc.get("encoding")
        p.require(
            encoding in ENCODINGS, f"'encoding' is {_show(encoding)}, expected bool or packbits"
        )
    training = doc.get("training") if kind == "weights" else None
    p.require(training is None or isinstance(training, dict), "'training' must be an object")

    provenance = doc.get("provenance")
    p.require(isinstance(provenance, list), "'provenance' must be a list")
    return Metadata(
        kind=kind,
        model=ModelBinding(model_name, args, fp),
        init=p.init(doc["init"]),
        provenance=tuple(p.record(i, r) for i, r in enumerate(provenance)),
        layers=layers,
        content_hash=content_hash,
        encoding=encoding,
        training=training,
        version=version,
    )


def _show(value: Any) -> str:
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and _HASH.match(value) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Raises FormatError with the file name and the offending key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def require(self, ok: bool, message: str) -> None:
        if not ok:
            raise FormatError(f"{self.name}: {message}")

    def obj(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        value = doc.get(key)
        self.require(isinstance(value, dict), f"'{key}' must be an object")
        return value

    def layer(self, name: str, doc: Any) -> LayerCount:
        where = f"'layers.{name}'"
        self.require(isinstance(doc, dict), f"{where} must be an object")
        shape, numel, kept = doc.get("shape"), doc.get("numel"), doc.get("kept")
        self.require(
            isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape),
            f"{where}.shape must be a list of non-negative integers",
        )
        check_shape(shape, f"{self.name}: {where}")
        self.require(
            _is_int(numel) and numel == math.prod(shape), f"{where}.numel disagrees with its shape"
        )
        self.require(_is_int(kept) and 0 <= kept <= numel, f"{where}.kept must be in [0, numel]")
        return LayerCount(tuple(shape), kept)

    def init(self, doc: Any) -> InitRef | None:
        if doc is None:
            return None
        self.require(isinstance(doc, dict), "'init' must be an object or null")
        if doc.get("type") == "seed":
            self.require(_is_int(doc.get("seed")), "'init.seed' must be an integer")
            return InitRef(seed=doc["seed"])
        if doc.get("type") == "weights":
            digest, path = doc.get("sha256"), doc.get("path")
            self.require(
                isinstance(digest, str) and _HEX64.match(digest) is not None,
                "'init.sha256' must be 64 lowercase hex digits",
            )
            self.require(
                path is None or isinstance(path, str), "'init.path' must be a string or null"
            )
            return InitRef(sha256=digest, path=path)
        raise FormatError(f"{self.name}: 'init.type' must be 'seed' or 'weights'")

    def record(self, index: int, doc: Any) -> StageRecord:
        where = f"'provenance[{index}]'"
        self.require(isinstance(doc, dict), f"{where} must be an object")
        stage, options, seed = doc.get("stage"), doc.get("options", {}), doc.get("seed")
        digest, version = doc.get("input"), doc.get("maskkit", "")
        self.require(isinstance(stage, str) and stage, f"{where}.stage must be a non-empty string")
        self.require(isinstance(options, dict), f"{where}.options must be an object")
        self.require(seed is None or _is_int(seed), f"{where}.seed must be an integer or null")
        self.require(
            digest is None or _is_hash(digest), f"{where}.input must be a content hash or null"
        )
        self.require(isinstance(version, str), f"{where}.maskkit must be a string")
        return StageRecord(stage, options, seed, digest, version)
