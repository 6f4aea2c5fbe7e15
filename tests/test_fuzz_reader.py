"""Structured fuzzing of the reader: every mutant is accepted as valid, or refused in one line.

A seeded mutator edits valid artifacts (a bool mask, a packbits mask, scores, weights) at every
layer of the format: bytes, the length prefix, the header JSON, tensor entries and the metadata
document. Each mutant goes through ``maskkit.load`` and, in-process, ``verify``, ``info`` and
``diff``. A file that any of them accepts must also pass an independent check (the safetensors
library's parser, Python's json and a recount of kept elements and of the content hash written
here); a refusal must be a MaskkitError of one line naming the file. Any other exception fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from maskkit.errors import MaskkitError
from maskkit.format import load
from tests.conftest import FIXTURES, invoke

VALID = FIXTURES / "format" / "valid"
BASES = {
    "bool": VALID / "mask_bool.safetensors",
    "packbits": VALID / "mask_packbits.safetensors",
    "scores": VALID / "scores.safetensors",
    "weights": VALID / "weights.safetensors",
}
# 2,000 in all by default (about 5 s); MASKKIT_FUZZ_MUTANTS=5000 for a deeper run.
MUTANTS_PER_BASE = int(os.environ.get("MASKKIT_FUZZ_MUTANTS", "500"))
CLI_EVERY = 2  # every other mutant also goes through verify, info and diff (in-process)

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    2**64,
    1.5,
    "",
    "x",
    "sha256:",
    [],
    {},
    [1, 2],
    {"a": 1},
]
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 30, "-0", "1e-400", "0.5"]
DTYPES = ["BOOL", "U8", "I8", "F16", "BF16", "F32", "F64", "I64", "X9", "", "bool"]


def split(data: bytes) -> tuple[dict, dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    return header, json.loads(header["__metadata__"]["maskkit"]), data[8 + n :]


def join(header: dict, meta_text: str | None, payload: bytes, raw: dict[str, str]) -> bytes:
    """Serialise, then replace placeholder strings by raw JSON text (NaN, deep nesting...)."""
    if meta_text is not None:
        header = {**header, "__metadata__": {**header["__metadata__"], "maskkit": meta_text}}
    text = json.dumps(header, separators=(",", ":"))
    for token, replacement in raw.items():
        text = text.replace(json.dumps(token), replacement)
    body = text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(body)) + body + payload


def paths_in(doc: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths_in(value, (*prefix, i))
    return found


def set_path(doc: object, path: tuple, value: object) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def delete_path(doc: object, path: tuple) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One structured edit of a valid file, chosen at random."""
    choice = rng.randrange(12)
    if choice == 0:  # flip bits anywhere
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if choice == 1:  # truncate, or append
        if rng.random() < 0.7:
            return data[: rng.randrange(len(data))]
        return data + bytes(rng.randrange(1, 64))
    if choice == 2:  # header length
        (n,) = struct.unpack("<Q", data[:8])
        new = rng.choice([0, 1, n - 1, n + 1, n + 8, len(data), 2**63, 2**64 - 1, 100_000_001])
        return struct.pack("<Q", max(0, new)) + data[8:]

    header, meta, payload = split(data)
    raw: dict[str, str] = {}
    token = f"@raw{rng.randrange(10**9)}@"
    meta_text: str | None = None
    tensors = [k for k in header if k != "__metadata__"]
    if choice == 3:  # a metadata value of another type
        path = rng.choice(paths_in(meta))
        set_path(meta, path, rng.choice(ODD_VALUES))
    elif choice == 4:  # a metadata key removed, or an unknown one added
        path = rng.choice(paths_in(meta))
        if rng.random() < 0.5:
            delete_path(meta, path)
        else:
            target = meta
            for key in path[:-1]:
                target = target[key]
            if isinstance(target, dict):
                target["future_" + str(rng.randrange(9))] = rng.choice(ODD_VALUES)
    elif choice == 5:  # raw numbers and deep nesting inside the metadata text
        path = rng.choice(paths_in(meta))
        set_path(meta, path, token)
        depth = rng.choice([10, 63, 64, 65, 200, 5000])
        raw[json.dumps(token)] = rng.choice([*RAW_NUMBERS, "[" * depth + "]" * depth])
        meta_text = json.dumps(meta, separators=(",", ":"))
        for k, v in raw.items():
            meta_text = meta_text.replace(k, v)
        raw = {}
    elif choice == 6:  # a duplicate key inside the metadata document
        text = json.dumps(meta, separators=(",", ":"))
        spot = rng.choice([i for i, c in enumerate(text) if c == "{"])
        meta_text = text[: spot + 1] + '"kind":"mask",' + text[spot + 1 :]
        if text[spot + 1] == "}":
            meta_text = text[: spot + 1] + '"k":1,"k":2' + text[spot + 1 :]
    elif choice == 7:  # strings from an attacker: lone surrogates, controls, bidi
        name = rng.choice(tensors)
        new = name + rng.choice(["\ud800", "\n", "\x1b[31m", "\u202e", "\x00", "\udfff"])
        header[new] = header.pop(name)
        if name in meta.get("layers", {}):
            meta["layers"][new] = meta["layers"].pop(name)
        meta_text = json.dumps(meta, separators=(",", ":"))
    elif choice == 8:  # offsets
        entry = header[rng.choice(tensors)]
        i = rng.randrange(2)
        entry["data_offsets"][i] = max(
            0, entry["data_offsets"][i] + rng.choice([-8, -1, 1, 8, 2**62])
        )
    elif choice == 9:  # dtypes
        header[rng.choice(tensors)]["dtype"] = rng.choice(DTYPES)
    elif choice == 10:  # shapes and rank, in the header or in the metadata layers
        shape = rng.choice(
            [[0, 2**60], [0] + [1] * 69, [1] * 9, [2**40, 2**40], [0, 0], [], [3], [-1], [1.5]]
        )
        if rng.random() < 0.5:
            header[rng.choice(tensors)]["shape"] = shape
        else:
            layer = meta["layers"][rng.choice(list(meta["layers"]))]
            layer["shape"] = shape
            if rng.random() < 0.5 and all(isinstance(d, int) and d >= 0 for d in shape):
                layer["numel"] = int(np.prod(shape, dtype=object)) if shape else 1
    else:  # the version, with or without the keys it defines
        meta["version"] = rng.choice(["2.0", "1.9", "0.1", "1", "x", "10.0"])
        if rng.random() < 0.5:
            meta.pop(rng.choice(list(meta)), None)
    if meta_text is None:
        meta_text = json.dumps(meta, separators=(",", ":"), allow_nan=True)
    return join(header, meta_text, payload, raw)


# -- the independent checker -----------------------------------------------------------------
def independently_valid(data: bytes) -> bool:
    """What another implementation would say: the safetensors library, json and a recount."""
    try:
        arrays = safetensors.numpy.load(data)
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"]["maskkit"], parse_constant=_no_constant)
    except Exception:
        return False
    if meta.get("format") != "maskkit" or not str(meta.get("version", "")).startswith("1."):
        return False
    layers, kind = meta["layers"], meta["kind"]
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        if kind == "mask":
            shape = tuple(layers[name]["shape"])
            bits = (
                np.unpackbits(a, bitorder="little")[: int(np.prod(shape))]
                if meta["encoding"] == "packbits"
                else a.reshape(-1)
            )
            kept, dtype = int(np.count_nonzero(bits)), "BOOL"
            payload = np.packbits(bits.astype(bool), bitorder="little").tobytes()
        else:
            shape, dtype = a.shape, header[name]["dtype"]
            if name in layers:
                kept = (
                    int(np.count_nonzero(~np.isneginf(a)))
                    if kind == "scores"
                    else int(np.count_nonzero(a))
                )
            payload = a.tobytes()
        if name in layers and layers[name]["kept"] != kept:
            return False
        text = f"{name}\0{dtype}\0{','.join(map(str, shape))}\0".encode()
        digest.update(text + struct.pack("<Q", len(payload)) + payload)
    return meta["content_hash"] == "sha256:" + digest.hexdigest()


def _no_constant(name: str) -> None:
    raise ValueError(name)


# -- outcomes ----------------------------------------------------------------------------------
def check_load(data: bytes, label: str) -> bool:
    try:
        load(data, name="mutant.safetensors")
    except MaskkitError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, (label, message)
        assert "mutant.safetensors" in message, (label, message)
        return False
    except Exception as exc:  # pragma: no cover - the failure this test exists to find
        pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
    assert independently_valid(data), f"{label}: accepted, but invalid to an independent reader"
    return True


def check_cli(path: Path, accepted: bool, other: Path, label: str) -> None:
    commands = (
        ["verify", str(path)],
        ["info", str(path)],
        ["info", "--json", str(path)],
        ["info", "--header-only", "--json", str(path)],
        ["diff", str(path), str(other)],
    )
    for args in commands:
        header_only = "--header-only" in args
        try:
            result = invoke(args)
        except Exception as exc:  # pragma: no cover
            pytest.fail(f"{label}: {' '.join(args[:2])}: {type(exc).__name__}: {exc}")
        err = result.stderr.strip().splitlines()
        if result.exit_code == 0 or (args[0] == "diff" and result.exit_code == 3):
            if not header_only:  # --header-only does not check the tensors
                assert accepted, f"{label}: {args} accepted what load refuses"
            if "--json" in args:
                json.loads(result.stdout_bytes, parse_constant=_no_constant)
            continue
        assert result.exit_code in (1, 2), (label, args, result.exit_code)
        if args[0] == "verify":
            lines = result.stdout_bytes.decode().splitlines()
            assert len(lines) == 1 and lines[0].startswith("FAIL") and str(path) in lines[0], (
                label,
                lines,
            )
        else:
            assert len(err) == 1 and err[0].startswith("maskkit: error:"), (label, args, err)
            # diff of a valid mutant may refuse the pair (other models), naming no one file.
            if not (accepted and args[0] == "diff"):
                assert str(path) in err[0], (label, args, err)
        assert not accepted or args[0] == "diff", f"{label}: {args} refused a file load accepts"


@pytest.mark.parametrize("base", list(BASES))
def test_mutants_are_accepted_only_when_valid_and_refused_in_one_line(base, tmp_path):
    data = BASES[base].read_bytes()
    other = BASES["bool"]
    rng = random.Random(f"maskkit-fuzz-{base}-{MUTANTS_PER_BASE}")
    accepted = 0
    for i in range(MUTANTS_PER_BASE):
        mutant = mutate(data, rng)
        label = f"{base} mutant {i}"
        ok = check_load(mutant, label)
        accepted += ok
        if i % CLI_EVERY == 0:
            path = tmp_path / "mutant.safetensors"
            path.write_bytes(mutant)
            check_cli(path, ok, other, label)
    # The mutator must reach both outcomes, or it tests nothing.
    assert 0 < accepted < MUTANTS_PER_BASE * 0.6, accepted
