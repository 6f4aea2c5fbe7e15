"""Writing and reading a ResNet-50-sized mask through maskkit vs raw safetensors.numpy.

Target (issue 2): maskkit save/load within 2x of safetensors.numpy.save_file/load_file of the
same bool arrays; packbits files about 1/8 of bool ones. Each pair is timed two ways: best of
separate runs (each side with a warm allocator: reads into freed memory of the same size), and
the median of alternated runs (raw, maskkit, raw, ...: closer to one load per process). Scores
(float32, 4x the bytes) are timed too. ``--profile`` prints where ``load`` spends its time, by
function: reading, parsing the header, the required checks (bool bytes, packing for the content
hash, SHA-256, popcounts, NaN) and the rest.

Run: ``.venv/bin/python benchmarks/bench_format.py [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

import safetensors.numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

import numpy as np

from benchmarks._common import alternated, best_of, random_masks, resnet50_shapes
from maskkit.format import Mask, Scores, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="where load spends its time")
    args = parser.parse_args()
    shapes = resnet50_shapes()
    arrays = random_masks(shapes, 0.2, seed=0)
    numel = sum(a.size for a in arrays.values())
    mask = Mask(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        raw, ours, packed = (
            Path(tmp) / n for n in ("raw.safetensors", "ours.safetensors", "packed.safetensors")
        )

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
        alt = alternated(
            {"raw": lambda: safetensors.numpy.load_file(raw), "ours": lambda: load(ours)}
        )
        rng = np.random.default_rng(0)
        score_arrays = {n: rng.random(s, dtype=np.float32) for n, s in shapes.items()}
        raw_scores, our_scores = (
            Path(tmp) / "raw_scores.safetensors",
            Path(tmp) / "scores.safetensors",
        )
        safetensors.numpy.save_file(score_arrays, raw_scores)
        Scores(score_arrays).save(our_scores)
        alt_scores = alternated(
            {
                "raw": lambda: safetensors.numpy.load_file(raw_scores),
                "ours": lambda: load(our_scores),
            },
            5,
        )
        profiles = (
            [profile(ours, "bool mask"), profile(our_scores, "scores")] if args.profile else []
        )

    print(f"ResNet-50-sized mask: {len(arrays)} tensors, {numel:,} weights")
    print(
        f"save  raw safetensors {t_raw_save * 1e3:7.1f} ms   maskkit {t_save * 1e3:7.1f} ms   ratio {t_save / t_raw_save:.2f}x (target <= 2; new file)"
    )
    print(
        f"save  raw safetensors {t_raw_over * 1e3:7.1f} ms   maskkit {t_over * 1e3:7.1f} ms   ratio {t_over / t_raw_over:.2f}x (replacing an existing file)"
    )
    print(
        f"load  raw safetensors {t_raw_load * 1e3:7.1f} ms   maskkit {t_load * 1e3:7.1f} ms   ratio {t_load / t_raw_load:.2f}x (target <= 2)"
    )
    print(
        f"load  raw safetensors {alt['raw'] * 1e3:7.1f} ms   maskkit {alt['ours'] * 1e3:7.1f} ms   ratio {alt['ours'] / alt['raw']:.2f}x (alternated, medians)"
    )
    print(
        f"load  packbits file   {t_load_packed * 1e3:7.1f} ms   ratio to raw bool load {t_load_packed / t_raw_load:.2f}x"
    )
    print(
        f"load  scores: raw     {alt_scores['raw'] * 1e3:7.1f} ms   maskkit {alt_scores['ours'] * 1e3:7.1f} ms   ratio {alt_scores['ours'] / alt_scores['raw']:.2f}x (alternated, medians)"
    )
    print(
        f"size  bool {size_bool:,} B   packbits {size_packed:,} B   ratio {size_packed / size_bool:.4f} (expected ~1/8 = 0.125)"
    )
    for text in profiles:
        print(text)


def profile(path: Path, label: str, repeats: int = 10) -> str:
    """The functions ``load`` spends its time in (own time, per load), largest first."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        load(path)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = sum(row[2] for row in stats.stats.values()) / repeats
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:10]
    lines = [f"profile of load ({label}), {total * 1e3:.1f} ms per load; own time per load:"]
    for (file, line, func), (_, _, tottime, _, _) in rows:
        where = f"{Path(file).name}:{line}({func})" if line else func
        lines.append(
            f"  {tottime / repeats * 1e3:7.2f} ms  {tottime / repeats / total:5.1%}  {where}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
