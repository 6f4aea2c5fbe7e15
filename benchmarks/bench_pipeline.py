"""`score random | mask | shuffle` on resnet50 through pipes vs the same three steps in one process.

Target (issue 3): the pipeline's wall time within 1.5x of one process doing the same three steps,
and the peak memory of each stage at most its torch baseline plus 3x the artifact size.

Time. The pipeline is ``maskkit score --model resnet50 --method random --seed 0 | maskkit mask
--sparsity 0.9 | maskkit shuffle --seed 1 > out`` (under ``bash -c`` with pipefail). The one
process is a fresh ``python -c`` running the library calls (init_weights, score, make_mask,
shuffle, to_bytes) and writing the same file, so both include interpreter start and
``import torch``: three times for the pipeline, once for the one process. The target ratio is
whole pipeline / whole one process (startup included). The one process also times itself from
after its imports, and ``python -c 'import torch'`` is timed, to show where the difference goes.
The two are run alternately, so drifts in machine load hit both alike. Also printed: CPU seconds
(pipeline vs one process: on a busy 2-core machine the pipeline's wall time tends to its CPU
time) and when each stage exits in the pipe (a stage sees EOF only when the one before it has
exited or closed its stdout, so these show the critical path).

Memory. Each stage's peak RSS is its ``ru_maxrss`` from ``os.wait4``, measured in a real pipe.
Baselines (the least any torch process doing the stage's job holds):
  score:         python that imports torch and fills one float32 tensor the size of resnet50's
                 state_dict (the model it must initialise, held once);
  mask, shuffle: python that imports torch.
The artifact size of a stage is the larger of its input and output files: score writes the scores
(~102 MB), mask reads those scores and writes a mask (~25.5 MB), shuffle reads and writes a mask.
(Under the stricter reading, mask's output size, the mask row's ratio is printed too.)
The pipeline output, the one-process output and a file-to-file run of the three stages must be
byte-identical; the script says so, and exits 1 if they are not.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--repeats 3]``. Children get
OMP_NUM_THREADS=1 unless it is set. The machine is shared: trust medians over several repeats.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import command_time, maskkit_command

MODEL, SCORE_SEED, SPARSITY, SHUFFLE_SEED = "resnet50", 0, 0.9, 1
TARGET_TIME, TARGET_MEMORY = 1.5, 3.0
MB = 1e6

# argv[1]: output file; argv[2]: file to append this run's inner timings to (JSON lines).
ONE_PROCESS = f"""
import json, sys, time
t0 = time.perf_counter()
import torch
from maskkit import stages
t1 = time.perf_counter()
w = stages.init_weights({MODEL!r}, seed={SCORE_SEED})
t2 = time.perf_counter()
s = stages.score(w, "random", seed={SCORE_SEED})
t3 = time.perf_counter()
m = stages.make_mask(s, {SPARSITY})
t4 = time.perf_counter()
m = stages.shuffle(m, {SHUFFLE_SEED})
t5 = time.perf_counter()
with open(sys.argv[1], "wb") as f:
    f.write(m.to_bytes())
t6 = time.perf_counter()
with open(sys.argv[2], "a") as f:
    f.write(json.dumps({{"imports": t1 - t0, "init": t2 - t1, "score": t3 - t2, "mask": t4 - t3,
                        "shuffle": t5 - t4, "write": t6 - t5, "work": t6 - t1}}) + "\\n")
"""


def stage_commands() -> list[tuple[str, list[str]]]:
    mk = maskkit_command()
    return [
        (
            "score",
            [*mk, "score", "--model", MODEL, "--method", "random", "--seed", str(SCORE_SEED)],
        ),
        ("mask", [*mk, "mask", "--sparsity", str(SPARSITY)]),
        ("shuffle", [*mk, "shuffle", "--seed", str(SHUFFLE_SEED)]),
    ]


def measured(argv: list[str], stdin=None, stdout=None) -> tuple[subprocess.Popen, Path]:
    fd, name = tempfile.mkstemp(prefix="bench_pipeline.", suffix=".err")
    os.close(fd)
    err = Path(name)
    with err.open("wb") as f:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=f)
    return proc, err


def reap(proc: subprocess.Popen, err: Path, label: str) -> tuple[int, float]:
    """Wait for ``proc``: its own (peak RSS bytes, CPU seconds), from ``os.wait4``'s rusage.

    Linux counts the RSS a child had before exec, i.e. its parent's (fork and vfork alike), so
    this script must stay small: it never imports torch itself (its own peak is printed).
    """
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped here: Popen must not wait again)
    message = err.read_text(errors="replace").strip()
    err.unlink()
    if proc.returncode != 0:
        sys.exit(f"{label} failed (exit {proc.returncode}): {message}")
    return usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime  # (Linux: maxrss in KiB)


def peak_rss(
    argv: list[str], label: str, stdin_path: Path | None = None, stdout_path: Path | None = None
) -> tuple[float, int, float]:
    """(wall s, peak RSS bytes, CPU s) of one command, reading/writing files if given."""
    fin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    fout = stdout_path.open("wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    try:
        proc, err = measured(argv, stdin=fin, stdout=fout)
    finally:
        for f in (fin, fout):
            if f is not subprocess.DEVNULL:
                f.close()
    rss, cpu = reap(proc, err, label)
    return time.perf_counter() - start, rss, cpu


def pipeline_peaks(
    stages: list[tuple[str, list[str]]], out: Path
) -> list[tuple[int, float, float]]:
    """Run the stages as one pipe into ``out``; each stage's (peak RSS bytes, CPU s, exit s).

    The exit times show the pipe's critical path: a stage sees EOF only when the one before it
    has exited (or closed its stdout).
    """
    procs, upstream = [], None
    start = time.perf_counter()
    with out.open("wb") as fout:
        for i, (label, argv) in enumerate(stages):
            last = i == len(stages) - 1
            proc, err = measured(argv, stdin=upstream, stdout=fout if last else subprocess.PIPE)
            if upstream is not None:
                upstream.close()  # only the next stage holds the read end: EOF/SIGPIPE work
            upstream = proc.stdout
            procs.append((proc, err, label))
    # In pipe order, which is also the order they finish in.
    return [(*reap(proc, err, label), time.perf_counter() - start) for proc, err, label in procs]


def timed(argv: list[str], label: str) -> float:
    try:
        return command_time(argv, repeats=1)[0]
    except subprocess.CalledProcessError as exc:
        sys.exit(
            f"{label} failed (exit {exc.returncode}): {exc.stderr.decode(errors='replace').strip()}"
        )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def state_dict_numel() -> int:
    # In a child: torch in this process would raise every child's measured peak (see reap).
    code = (
        "from maskkit.models import build_model, model_args; "
        f"m = build_model({MODEL!r}, model_args({MODEL!r}), seed=0); "
        "print(sum(t.numel() for t in m.state_dict().values()))"
    )
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bash = shutil.which("bash")
    if bash is None:
        sys.exit("bash is needed to run the pipeline with pipefail")
    py = sys.executable
    stages = stage_commands()
    labels = [label for label, _ in stages]
    numel = state_dict_numel()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # One file-to-file run: the artifact sizes, a per-stage time breakdown, a third output.
        files = [d / "scores.safetensors", d / "mask.safetensors", d / "files.safetensors"]
        file_runs, source = {}, None
        for (label, argv), target in zip(stages, files, strict=True):
            file_runs[label] = peak_rss(argv, label, source, target)
            source = target
        size_scores, size_mask = files[0].stat().st_size, files[1].stat().st_size

        pipe_out, one_out = d / "pipe.safetensors", d / "one.safetensors"
        inner_log = d / "inner.jsonl"
        pipe_line = " | ".join(shlex.join(argv) for _, argv in stages)
        pipe_argv = [bash, "-c", f"set -o pipefail; {pipe_line} > {shlex.quote(str(pipe_out))}"]
        one_argv = [py, "-c", ONE_PROCESS, str(one_out), str(inner_log)]
        torch_argv = [py, "-c", "import torch"]
        model_argv = [py, "-c", f"import torch; t = torch.empty({numel}).normal_()"]
        cli_argv = [py, "-c", "import torch, numpy, click, rich, maskkit_cli.main, maskkit.stages"]

        t_pipe, t_one, t_torch, hashes = [], [], [], set()
        pipe_runs, one_runs, base_torch, base_model, base_cli = [], [], [], [], []
        for _ in range(args.repeats):
            # Timed runs first, alternating; then the runs measured for memory and CPU.
            t_pipe.append(timed(pipe_argv, "pipeline"))
            hashes.add(("pipe", digest(pipe_out)))
            t_one.append(timed(one_argv, "one process"))
            hashes.add(("one process", digest(one_out)))
            t_torch.append(timed(torch_argv, "import torch"))
            pipe_runs.append(pipeline_peaks(stages, pipe_out))
            hashes.add(("pipe (measured)", digest(pipe_out)))
            one_runs.append(peak_rss(one_argv, "one process")[1:])
            base_torch.append(peak_rss(torch_argv, "torch baseline")[1])
            base_model.append(peak_rss(model_argv, "torch + model baseline")[1])
            base_cli.append(peak_rss(cli_argv, "CLI imports")[1])
        hashes.add(("files", digest(files[2])))
        # Every one-process run logs itself; keep the timed ones (the measured runs come second).
        inner = [json.loads(line) for line in inner_log.read_text().splitlines()][::2]

    med = statistics.median
    print(
        f"{MODEL}: score random | mask --sparsity {SPARSITY} | shuffle --seed {SHUFFLE_SEED}; "
        f"{numel:,} state_dict values; repeats {args.repeats}; "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; {os.cpu_count()} CPUs, shared and "
        "noisy: trust the medians"
        + "".join(f"; {k}={v}" for k, v in os.environ.items() if k.startswith("MALLOC_"))
    )
    print(f"\nwall time, s{'':31}{'best':>8}{'median':>8}")
    rows = [
        ("pipeline, 3 processes", t_pipe),
        ("one process (python -c, incl. startup)", t_one),
        ("  its work after imports", [r["work"] for r in inner]),
        ("  its imports (torch, maskkit)", [r["imports"] for r in inner]),
        ("python -c 'import torch'", t_torch),
    ]
    for label, times in rows:
        print(f"{label:43}{min(times):8.2f}{med(times):8.2f}")
    steps = ("init", "score", "mask", "shuffle", "write")
    print(
        "one process, median s per step: "
        + ", ".join(f"{k} {med(r[k] for r in inner):.2f}" for k in steps)
    )
    print(
        "stages file to file, one run, s: "
        + ", ".join(f"{k} {v[0]:.2f}" for k, v in file_runs.items())
    )
    cpu_pipe = [sum(cpu for _, cpu, _ in run) for run in pipe_runs]
    cpu_stage = {label: med(run[i][1] for run in pipe_runs) for i, label in enumerate(labels)}
    exits = {label: med(run[i][2] for run in pipe_runs) for i, label in enumerate(labels)}
    print(
        "pipe timeline, median s from start to exit (measured runs): "
        + ", ".join(f"{k} {v:.2f}" for k, v in exits.items())
    )
    print(
        f"CPU s (user+sys), median: pipeline {med(cpu_pipe):.2f} ("
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu_stage.items())
        + f"), one process {med(cpu for _, cpu in one_runs):.2f}"
    )
    ratio_med, ratio_best = med(t_pipe) / med(t_one), min(t_pipe) / min(t_one)
    verdict = "PASS" if ratio_med <= TARGET_TIME else "FAIL"
    print(
        f"TARGET  pipeline / one process, both whole (startup included): median {ratio_med:.2f}, "
        f"best {ratio_best:.2f} (target <= {TARGET_TIME}) {verdict}"
    )
    work = med(r["work"] for r in inner)
    print(
        f"info    pipeline / one process's work after its imports: median {med(t_pipe) / work:.2f}"
    )

    peaks = {label: max(run[i][0] for run in pipe_runs) for i, label in enumerate(labels)}
    lows = {label: min(run[i][0] for run in pipe_runs) for i, label in enumerate(labels)}
    b_torch, b_model = max(base_torch), max(base_model)
    table = [
        ("score", b_model, "torch + model", size_scores, "scores out"),
        ("mask", b_torch, "torch", size_scores, "scores in"),
        ("shuffle", b_torch, "torch", size_mask, "mask in/out"),
    ]
    print(f"\npeak RSS, MB (pipe: max over {args.repeats} runs; baselines: max over as many)")
    print(
        f"{'stage':8}{'pipe':>7}{'range':>10}{'file':>6}{'baseline':>9}  {'(of)':14}"
        f"{'artifact':>9}  {'(which)':12}{'(peak-base)/art':>16}  target <= {TARGET_MEMORY:g}"
    )
    failed = []
    for label, base, base_name, size, which in table:
        over = (peaks[label] - base) / size
        failed += [] if over <= TARGET_MEMORY else [label]
        span = f"{lows[label] / MB:.0f}-{peaks[label] / MB:.0f}"
        print(
            f"{label:8}{peaks[label] / MB:7.0f}{span:>10}{file_runs[label][1] / MB:6.0f}"
            f"{base / MB:9.0f}  {base_name:14}{size / MB:9.1f}  {which:12}{over:16.2f}  "
            f"{'PASS' if over <= TARGET_MEMORY else 'FAIL'}"
        )
    print(
        f"mask against its output artifact ({size_mask / MB:.1f} MB) instead: "
        f"{(peaks['mask'] - b_torch) / size_mask:.2f}x"
    )
    print(
        f"baselines: python -c 'import torch' {min(base_torch) / MB:.0f}-{b_torch / MB:.0f}; "
        f"plus a {numel * 4 / MB:.0f} MB tensor {min(base_model) / MB:.0f}-{b_model / MB:.0f}; "
        f"reference: the CLI's imports (torch, numpy, click, rich, maskkit) "
        f"{max(base_cli) / MB:.0f}; one process doing all three steps "
        f"{max(rss for rss, _ in one_runs) / MB:.0f}; this script (a floor under every figure) "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB:.0f}"
    )

    distinct = {h for _, h in hashes}
    if len(distinct) != 1:
        print("\nOUTPUTS DIFFER: " + ", ".join(f"{k} {h}" for k, h in sorted(hashes)))
        sys.exit(1)
    print(
        f"\noutputs byte-identical (pipe, one process, file to file, every run): sha256 {distinct.pop()}"
    )
    if failed:
        print(f"memory target missed by: {', '.join(failed)}")


if __name__ == "__main__":
    main()
