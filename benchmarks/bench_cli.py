"""The commands as users run them, whole process, against the library doing the same work.

Each workload runs the installed console script (a fresh process: interpreter, imports, work,
output written, exit) and, alternately with it, a fresh ``python -c`` making the same library
calls, which times itself from its first import to its output written: the library's time.
The CLI may cost its start-up and no more:

    (cli - startup) / library <= 1.05,   startup = the median wall time of ``maskkit --version``

Workloads: one epoch of lenet300 and of lenet5 on MNIST, 20 steps of resnet20 on synthetic
CIFAR-shaped data, SynFlow (100 rounds) on resnet20, ``mask`` on resnet50 scores, ``info`` and
``diff`` on resnet50 masks. Where both sides write an artifact, the two must have the same content
hash (the script exits 1 otherwise).

The memory setting. The CLI fixes glibc's mmap threshold at 1 MiB only for the stages that hold
one large artifact (``mask``, ``shuffle``, ...), which returns their big freed buffers to the OS
at once; with it, every tensor of 1 MiB or more is mmapped, page-faulted and unmapped at each
use, which is why training and scoring run without it. The second table proves both sides: each
command as shipped against the same command with the setting flipped (training and SynFlow with
the 1 MiB threshold forced, as every command had it before; ``mask`` and ``shuffle`` on resnet50
with it removed), for wall time, system time and peak RSS (``ru_maxrss`` from ``os.wait4``).

Paired runs alternate (A, B, A, B, ...) so drifts in machine load hit both alike; medians are
printed. This script never imports torch itself, so its children's peak RSS is their own.

Run: ``.venv/bin/python benchmarks/bench_cli.py [--quick] [--repeats 3] [--only NAME,...]
[--threads N]``. On a machine others are using, ``--threads 1`` keeps torch's worker threads from
spinning on contended cores, which otherwise swamps every ratio.
``--quick`` is a sanity run (tiny sizes, one repeat): its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import Run, maskkit_command, run_child

TARGET = 1.05
MB = 1e6
SYNTHETIC = [
    "--dataset", "synthetic", "--data-option", "train_size=2560", "--data-option", "test_size=256",
]  # fmt: skip

# The library side: argv[1] is a JSON object of this workload's paths and sizes. It prints one
# JSON line: its own time (first import to output written) and the output's content hash.
LIBRARY = {
    "train": """
import json, sys, time
t0 = time.perf_counter()
import maskkit
from maskkit.models import model_family
a = json.loads(sys.argv[1])
art = maskkit.load(a["input"])
data = maskkit.load_dataset(a["dataset"], options=a["data_options"])
opts = maskkit.default_options(model_family(art.model.name), data.name, **a["length"])
trained, _ = maskkit.train_artifact(art, data, opts, source=a["input"])
trained.save(a["output"])
print(json.dumps({"seconds": time.perf_counter() - t0, "hash": trained.content_hash}))
""",
    "synflow": """
import json, sys, time
t0 = time.perf_counter()
import maskkit
a = json.loads(sys.argv[1])
w = maskkit.init_weights(a["model"], seed=0)
s = maskkit.score(w, "synflow", options={"sparsity": 0.9, "rounds": a["rounds"]})
s.save(a["output"])
print(json.dumps({"seconds": time.perf_counter() - t0, "hash": s.content_hash}))
""",
    "mask": """
import json, sys, time
t0 = time.perf_counter()
import maskkit
a = json.loads(sys.argv[1])
m = maskkit.make_mask(maskkit.load(a["input"], kind="scores"), 0.9)
m.save(a["output"])
print(json.dumps({"seconds": time.perf_counter() - t0, "hash": m.content_hash}))
""",
    "info": """
import json, sys, time
t0 = time.perf_counter()
import maskkit
a = json.loads(sys.argv[1])
m = maskkit.load(a["input"])
m.densities()
print(json.dumps({"seconds": time.perf_counter() - t0, "hash": None}))
""",
    "diff": """
import json, sys, time
t0 = time.perf_counter()
import maskkit
a = json.loads(sys.argv[1])
maskkit.compare_masks(maskkit.load(a["input"]), maskkit.load(a["other"]))
print(json.dumps({"seconds": time.perf_counter() - t0, "hash": None}))
""",
}

# A command with the memory setting flipped: "force" fixes the 1 MiB threshold whatever the
# command, "off" never sets it. argv after -c: the command's own arguments.
FLIPPED = """
import sys
import maskkit_cli.main as m
m._return_freed_memory_early = lambda argv: None
if {force!r}:
    m.set_mmap_threshold(1 << 20)
sys.argv[0] = "maskkit"
m.main()
"""


@dataclass(frozen=True)
class Workload:
    name: str
    cli: list[str]  # after the command name's prefix (maskkit ...)
    library: str  # a key of LIBRARY
    args: dict
    output: str | None = None  # the file both sides write, checked by content hash


def workloads(d: Path, quick: bool) -> list[Workload]:
    big = "resnet20" if quick else "resnet50"
    one_epoch = {"steps": 4} if quick else {"epochs": 1}
    epoch_flag = ["--steps", "4"] if quick else ["--epochs", "1"]
    steps = 4 if quick else 20
    rounds = 5 if quick else 100
    out = str(d / "out.safetensors")
    train = ["train", "--no-progress", "-o", out]
    items = []
    for model in ("lenet300", "lenet5"):
        items.append(
            Workload(
                f"train {model}, {'4 steps' if quick else '1 epoch'} MNIST",
                [*train, *epoch_flag, str(d / f"{model}.safetensors")],
                "train",
                {
                    "input": str(d / f"{model}.safetensors"),
                    "dataset": "mnist",
                    "data_options": {},
                    "length": one_epoch,
                    "output": out,
                },
                out,
            )
        )
    synthetic = SYNTHETIC
    items += [
        Workload(
            f"train resnet20, {steps} steps synthetic",
            [*train, "--steps", str(steps), *synthetic, str(d / "resnet20.safetensors")],
            "train",
            {
                "input": str(d / "resnet20.safetensors"),
                "dataset": "synthetic",
                "data_options": {"train_size": 2560, "test_size": 256},
                "length": {"steps": steps},
                "output": out,
            },
            out,
        ),
        Workload(
            f"score synflow resnet20, {rounds} rounds",
            ["score", "--model", "resnet20", "--method", "synflow", "--sparsity", "0.9",
             "--rounds", str(rounds), "-o", out],
            "synflow",
            {"model": "resnet20", "rounds": rounds, "output": out},
            out,
        ),
        Workload(
            f"mask {big} scores",
            ["mask", "--sparsity", "0.9", str(d / "scores.safetensors"), "-o", out],
            "mask",
            {"input": str(d / "scores.safetensors"), "output": out},
            out,
        ),
        Workload(
            f"info {big} mask",
            ["info", str(d / "mask_a.safetensors")],
            "info",
            {"input": str(d / "mask_a.safetensors")},
        ),
        Workload(
            f"diff {big} masks",
            ["diff", str(d / "mask_a.safetensors"), str(d / "mask_b.safetensors")],
            "diff",
            {"input": str(d / "mask_a.safetensors"), "other": str(d / "mask_b.safetensors")},
        ),
    ]  # fmt: skip
    return items


def prepare(d: Path, mk: list[str], quick: bool) -> None:
    """The input files: a 90%-sparse random mask per trained model, big scores and two masks."""

    def run(*args: str) -> None:
        run_child([*mk, *args], label=" ".join(args[:1]))

    for model in ("lenet300", "lenet5", "resnet20"):
        scores = str(d / f"{model}.scores.safetensors")
        run("score", "--model", model, "--method", "random", "--seed", "0", "-o", scores)
        run("mask", "--sparsity", "0.9", scores, "-o", str(d / f"{model}.safetensors"))
    big = "resnet20" if quick else "resnet50"
    scores, a, b = (str(d / f"{n}.safetensors") for n in ("scores", "mask_a", "mask_b"))
    run("score", "--model", big, "--method", "random", "--seed", "0", "-o", scores)
    run("mask", "--sparsity", "0.9", scores, "-o", a)
    run("shuffle", "--seed", "1", a, "-o", b)


def content_hash(path: str) -> str:
    # In a child: read_metadata is cheap, but this process must stay small (see run_child).
    code = "import sys, maskkit; print(maskkit.read_metadata(sys.argv[1]).content_hash)"
    return run_child([sys.executable, "-c", code, path]).stdout.strip()


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def time_against_library(items: list[Workload], mk: list[str], repeats: int) -> list[str]:
    """The first table; returns the names of workloads over the target."""
    startup_runs = [run_child([*mk, "--version"]) for _ in range(max(5, 2 * repeats))]
    startup = median(startup_runs, "wall")
    print(f"start-up (maskkit --version): {startup * 1e3:.0f} ms (median of {len(startup_runs)})")
    print(
        f"{'workload':38} {'cli s':>7} {'lib s':>7} {'cli/lib':>8} {'(cli-start)/lib':>16}"
        f" {'CPU cli/lib':>12} {'cli MB':>7} {'lib MB':>7}"
    )
    over = []
    for w in items:
        cli_runs, lib_runs, lib_times = [], [], []
        for i in range(repeats):
            # ABBA order: whichever runs second in a pair (warmer caches) alternates too.
            for side in ("cli", "lib") if i % 2 == 0 else ("lib", "cli"):
                if side == "cli":
                    cli_runs.append(run_child([*mk, *w.cli], label=w.name))
                    cli_hash = content_hash(w.output) if w.output else None
                    continue
                lib = run_child(
                    [sys.executable, "-c", LIBRARY[w.library], json.dumps(w.args)], label=w.name
                )
                lib_runs.append(lib)
                reported = json.loads(lib.stdout.strip().splitlines()[-1])
                lib_times.append(reported["seconds"])
                lib_hash = reported["hash"]
            if w.output and lib_hash != cli_hash:
                sys.exit(f"{w.name}: the CLI and the library wrote different content")
        cli, library = median(cli_runs, "wall"), statistics.median(lib_times)
        # CPU seconds of the whole processes: less sensitive than wall time to a busy machine.
        cpu = statistics.median(r.user + r.sys for r in cli_runs) / statistics.median(
            r.user + r.sys for r in lib_runs
        )
        net = (cli - startup) / library
        if net > TARGET:
            over.append(w.name)
        print(
            f"{w.name:38} {cli:7.2f} {library:7.2f} {cli / library:8.2f} {net:16.3f}"
            f" {cpu:12.2f} {median(cli_runs, 'rss') / MB:7.0f} {median(lib_runs, 'rss') / MB:7.0f}"
        )
    print(f"target: (cli - startup) / library <= {TARGET}; same content written: yes")
    return over


def memory_setting(d: Path, mk: list[str], repeats: int, quick: bool) -> None:
    """The second table: each command as shipped against it with the memory setting flipped."""
    big = "resnet20" if quick else "resnet50"
    steps, rounds = (4, 5) if quick else (20, 100)
    out = str(d / "flip.safetensors")
    synthetic = SYNTHETIC
    rows = [
        ("train resnet20", True, ["train", "--no-progress", "--steps", str(steps), *synthetic,
                                  str(d / "resnet20.safetensors"), "-o", out]),
        ("score synflow resnet20", True, ["score", "--model", "resnet20", "--method", "synflow",
                                          "--sparsity", "0.9", "--rounds", str(rounds), "-o", out]),
        (f"mask {big} scores", False, ["mask", "--sparsity", "0.9", str(d / "scores.safetensors"), "-o", out]),
        (f"shuffle {big} mask", False, ["shuffle", "--seed", "2", str(d / "mask_a.safetensors"), "-o", out]),
    ]  # fmt: skip
    print()
    print("memory setting: as shipped (A) against flipped (B); medians")
    print(
        f"{'command':26} {'B is':>14} {'A s':>7} {'B s':>7} {'B/A time':>9} {'B/A CPU':>8} "
        f"{'A sys':>6} {'B sys':>6} {'A MB':>6} {'B MB':>6} {'B/A RSS':>8}"
    )
    for label, force, argv in rows:
        flipped = [sys.executable, "-c", FLIPPED.format(force=force), *argv]
        a_runs, b_runs = [], []
        for i in range(repeats):
            pair = [(a_runs, [*mk, *argv]), (b_runs, flipped)]
            for runs, command in pair if i % 2 == 0 else pair[::-1]:  # ABBA order
                runs.append(run_child(command, label=label))
        a, b = median(a_runs, "wall"), median(b_runs, "wall")
        ra, rb = median(a_runs, "rss"), median(b_runs, "rss")
        cpu = statistics.median(r.user + r.sys for r in b_runs) / statistics.median(
            r.user + r.sys for r in a_runs
        )
        print(
            f"{label:26} {'1 MiB forced' if force else 'setting off':>14} {a:7.2f} {b:7.2f} "
            f"{b / a:9.2f} {cpu:8.2f} {median(a_runs, 'sys'):6.2f} {median(b_runs, 'sys'):6.2f} "
            f"{ra / MB:6.0f} {rb / MB:6.0f} {rb / ra:8.2f}"
        )
    print("as shipped, training and scoring run without the 1 MiB threshold; mask/shuffle with it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat (a sanity run)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternated pairs per workload")
    parser.add_argument("--only", default="", help="comma-separated words: workloads to keep")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory-setting table")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for every child (0: inherit); 1 is steadier on a shared machine",
    )
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # children inherit it (no torch here)
    repeats = 1 if args.quick else args.repeats
    mk = maskkit_command()
    with tempfile.TemporaryDirectory(prefix="bench_cli.") as tmp:
        d = Path(tmp)
        prepare(d, mk, args.quick)
        items = workloads(d, args.quick)
        if args.only:
            words = [w.strip() for w in args.only.split(",") if w.strip()]
            items = [w for w in items if any(word in w.name for word in words)]
        over = time_against_library(items, mk, repeats)
        if not args.no_memory:
            memory_setting(d, mk, repeats, args.quick)
    if over and not args.quick:
        print(f"over the target: {', '.join(over)}")


if __name__ == "__main__":
    main()
