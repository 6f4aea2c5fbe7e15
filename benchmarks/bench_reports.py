"""Whole-command time of `maskkit info` and `maskkit diff` on two ResNet-50-sized masks.

Target (issue 2): at most 1.5x a bare interpreter that imports json and reads the two files,
i.e. the report commands must not import torch. Run: python benchmarks/bench_reports.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import command_time, maskkit_command, random_masks, resnet50_shapes
from maskkit.format import Mask


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    shapes = resnet50_shapes()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for encoding in ("bool", "packbits"):
            for seed in (0, 1):
                path = Path(tmp) / f"{encoding}{seed}.safetensors"
                Mask(random_masks(shapes, 0.2, seed), encoding=encoding).save(path)
                paths[encoding, seed] = str(path)
        a, b = paths["bool", 0], paths["bool", 1]
        pa, pb = paths["packbits", 0], paths["packbits", 1]
        read_two = f"import json; open({a!r}, 'rb').read(); open({b!r}, 'rb').read()"
        numpy_two = f"import json, numpy; open({a!r}, 'rb').read(); open({b!r}, 'rb').read()"
        mk = maskkit_command()
        runs = {
            "baseline: python, import json, read both files": [sys.executable, "-c", read_two],
            "reference: same plus import numpy": [sys.executable, "-c", numpy_two],
            "reference: python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "maskkit info A (table into a pipe)": [*mk, "info", a],
            "maskkit info --json A": [*mk, "info", "--json", a],
            "maskkit diff A B (bool encoding)": [*mk, "diff", a, b],
            "maskkit diff A B (packbits encoding)": [*mk, "diff", pa, pb],
        }
        results = {label: command_time(argv) for label, argv in runs.items()}
    base = results["baseline: python, import json, read both files"][0]
    print(
        f"two ResNet-50-sized masks ({sum(1 for _ in shapes)} tensors each); best of 9 runs, median in brackets"
    )
    for label, (best, median) in results.items():
        print(
            f"{label:48} {best * 1e3:7.1f} ms [{median * 1e3:7.1f}]  {best / base:5.2f}x baseline"
        )
    print("target: info and diff <= 1.5x baseline")


if __name__ == "__main__":
    main()
