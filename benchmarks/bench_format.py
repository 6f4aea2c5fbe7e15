"""Writing and reading a ResNet-50-sized mask through maskkit vs raw safetensors.numpy.

Target (issue 2): maskkit save/load within 2x of safetensors.numpy.save_file/load_file of the
same bool arrays; packbits files about 1/8 of bool ones. Run: python benchmarks/bench_format.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import safetensors.numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import best_of, random_masks, resnet50_shapes
from maskkit.format import Mask, load


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    shapes = resnet50_shapes()
    arrays = random_masks(shapes, 0.2, seed=0)
    numel = sum(a.size for a in arrays.values())
    mask = Mask(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        raw, ours, packed = (Path(tmp) / n for n in ("raw.safetensors", "ours.safetensors", "packed.safetensors"))

        fresh = iter(range(10**6))

        def new_path() -> Path:
            return Path(tmp) / f"new{next(fresh)}.safetensors"

        def save_ours(path: Path) -> None:
            Mask(arrays).save(path)  # a fresh Mask: counts and hash are recomputed every time

        # Writing a new file, and replacing an existing one: ext4 flushes a file renamed over
        # another (auto_da_alloc), which an atomic writer pays and an in-place overwrite does not.
        t_raw_save = best_of(lambda: safetensors.numpy.save_file(arrays, new_path()))
        t_save = best_of(lambda: save_ours(new_path()))
        t_raw_over = best_of(lambda: safetensors.numpy.save_file(arrays, raw))
        t_over = best_of(lambda: save_ours(ours))
        t_raw_load = best_of(lambda: safetensors.numpy.load_file(raw))
        t_load = best_of(lambda: load(ours))
        mask.with_encoding("packbits").save(packed)
        t_load_packed = best_of(lambda: load(packed))
        size_bool, size_packed = ours.stat().st_size, packed.stat().st_size

    print(f"ResNet-50-sized mask: {len(arrays)} tensors, {numel:,} weights")
    print(f"save  raw safetensors {t_raw_save * 1e3:7.1f} ms   maskkit {t_save * 1e3:7.1f} ms   ratio {t_save / t_raw_save:.2f}x (target <= 2; new file)")
    print(f"save  raw safetensors {t_raw_over * 1e3:7.1f} ms   maskkit {t_over * 1e3:7.1f} ms   ratio {t_over / t_raw_over:.2f}x (replacing an existing file)")
    print(f"load  raw safetensors {t_raw_load * 1e3:7.1f} ms   maskkit {t_load * 1e3:7.1f} ms   ratio {t_load / t_raw_load:.2f}x (target <= 2)")
    print(f"load  packbits file   {t_load_packed * 1e3:7.1f} ms   ratio to raw bool load {t_load_packed / t_raw_load:.2f}x")
    print(f"size  bool {size_bool:,} B   packbits {size_packed:,} B   ratio {size_packed / size_bool:.4f} (expected ~1/8 = 0.125)")


if __name__ == "__main__":
    main()
