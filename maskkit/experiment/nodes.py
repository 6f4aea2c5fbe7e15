"""What each node does, in a worker process: read its inputs, call one stage function, write
its artifact atomically.

:func:`run_node` is the one function the runner submits, locally or to Dask: it takes a plain
dict and returns a plain dict, and never raises for a failed stage (the error and traceback come
back as data), so nothing but builtins crosses the process boundary. A worker keeps torch and
each dataset it loaded for the next node.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
import warnings
from collections.abc import Mapping
from typing import Any

_DATASETS: dict[str, Any] = {}
_THREADS: list[int] = []


def worker_setup(
    threads: int | None, parent: int | None = None, slots: Any = None, gpus: Any = ()
) -> None:
    """Import torch once and fix its thread count; with ``parent``, exit when it is gone.

    The process pool runs this as its initializer, so a worker pays for ``import torch`` once;
    Dask workers run it on their first node. A worker whose coordinator was SIGKILLed would
    otherwise linger: a watchdog thread ends it when its parent process changes. With several
    ``gpus``, each worker takes the next free ``slots`` number and sees only its own GPU
    (set before torch starts CUDA), so every running node has a device of its own.
    """
    if slots is not None and len(gpus) > 1:
        slot = slots.get(timeout=60)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[slot % len(gpus)])
    import torch

    if threads and [threads] != _THREADS:
        torch.set_num_threads(threads)
        _THREADS[:] = [threads]
    if parent is not None:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="maskkit-parent-watch").start()


def run_node(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one node; ``{"ok": True, "summary": ..., "wall_time_s": ...}`` or the error."""
    start = time.perf_counter()
    node = task["node"]
    try:
        worker_setup(task.get("threads"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = _STAGES[node["stage"]](task)
        return {
            "ok": True,
            "node_id": node["node_id"],
            "summary": summary,
            "wall_time_s": time.perf_counter() - start,
            "warnings": [str(w.message) for w in caught],
            "host": os.uname().nodename,
        }
    except Exception as exc:  # a failed stage is data for the coordinator, never a crash
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {
            "ok": False,
            "node_id": node["node_id"],
            "error": message,
            "traceback": traceback.format_exc(),
            "wall_time_s": time.perf_counter() - start,
        }


def probe(task: Mapping[str, Any]) -> dict[str, Any]:
    """What the index needs of the model: prunable count, resolved arguments, layer costs.

    Also the grid's first contact with the dataset and the model, so a missing dataset or a
    model that cannot be built stops the run before any node.
    """
    import torch

    from maskkit import init_weights, initial_model

    worker_setup(task.get("threads"))
    grid = task["grid"]
    data = _dataset(grid["dataset"], task.get("data_dir"))
    weights = init_weights(grid["model"], seed=0, model_args=grid["model_args"], dataset=data)
    model, _ = initial_model(weights, source="the grid's model", trust_code=_trust(grid))
    costs = layer_costs(model, weights.prunable, data.input_shape)
    return {
        "prunable": weights.numel,
        "model_args": dict(weights.model.args),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "layer_costs": costs,
        "torch": torch.__version__,
    }


def layer_costs(model: Any, prunable: list[str], input_shape: Any) -> dict[str, list[int]]:
    """Multiply-accumulates of each prunable weight in one forward pass of one example.

    A convolution weight is used once per output position (numel x output H x W), a linear
    weight once per example.
    """
    import torch
    from torch import nn

    wanted = set(prunable)
    out: dict[str, list[int]] = {}
    hooks = []
    for name, module in model.named_modules():
        key = f"{name}.weight" if name else "weight"
        if key not in wanted or not isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            continue

        def hook(mod: Any, args: Any, output: Any, key: str = key) -> None:
            positions = 1
            if isinstance(mod, nn.modules.conv._ConvNd):
                for size in output.shape[2:]:
                    positions *= int(size)
            else:  # a linear layer applied to extra leading dimensions counts once per row
                for size in output.shape[1:-1]:
                    positions *= int(size)
            numel = mod.weight.numel()
            prev = out.get(key, [numel, 0])
            out[key] = [numel, prev[1] + numel * positions]

        hooks.append(module.register_forward_hook(hook))
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return out


# -- stages --------------------------------------------------------------------------------------
def _init(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.stages import init_weights

    opts = task["node"]["options"]
    data = _dataset(opts["dataset"], task.get("data_dir"))
    weights = init_weights(
        opts["model"], seed=opts["seed"], model_args=opts["model_args"], dataset=data
    )
    return _save(weights, task["path"])


def _score(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.stages import score

    opts = task["node"]["options"]
    source = task["inputs"][0]
    weights = load(source, kind="weights")
    data = _dataset(opts["dataset"], task.get("data_dir"))
    scores = _call(
        score,
        weights,
        opts["method"],
        options=opts["options"],
        dataset=data,
        samples_per_class=opts["samples_per_class"],
        data_seed=opts["data_seed"],
        seed=opts["seed"],
        trust_code=_trust(task["grid"]),
        source=source,
    )
    return _save(scores, task["path"])


def _mask(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.stages import make_mask

    opts = task["node"]["options"]
    scores = load(task["inputs"][0], kind="scores")
    return _save(make_mask(scores, opts["sparsity"], invert=opts["invert"]), task["path"])


def _rewind(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.stages import rewind

    mask_path, weights_path = task["inputs"]
    mask = load(mask_path, kind="mask")
    rewound = _call(
        rewind,
        mask,
        weights_path,
        relative_to=os.path.dirname(task["path"]),
        trust_code=_trust(task["grid"]),
    )
    return _save(rewound, task["path"])


def _shuffle(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.stages import shuffle

    mask = load(task["inputs"][0], kind="mask")
    return _save(shuffle(mask, seed=task["node"]["options"]["seed"]), task["path"])


def _reinit(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.stages import reinit

    mask = load(task["inputs"][0], kind="mask")
    return _save(reinit(mask, seed=task["node"]["options"]["seed"]), task["path"])


def _train(task: Mapping[str, Any]) -> dict[str, Any]:
    from maskkit.format import load
    from maskkit.training import default_options

    node = task["node"]
    opts = node["options"]
    source = task["inputs"][0]
    artifact = load(source, kind=("mask", "weights"))
    data = _dataset(opts["dataset"], task.get("data_dir"))
    grid = task["grid"]
    options = default_options(_family(grid["model"]), data.name, **opts["training"])
    path = task["path"]
    stem = path[: -len(".safetensors")]

    def on_save(step: int, weights: Any) -> None:
        weights.save(f"{stem}.step{step}.safetensors")

    checkpoints = task.get("checkpoint_dir")
    trained, _ = _train_artifact(
        artifact,
        data,
        options,
        source=source,
        save_at=tuple(opts.get("save_at", ())),
        on_save=on_save,
        checkpoint_dir=checkpoints,
        checkpoint_every=task.get("checkpoint_every"),
        run_id=node["node_id"],
        weights_dirs=(os.path.dirname(path),),
        trust_code=_trust(grid),
    )
    summary = _save(trained, path)
    if checkpoints and os.path.isdir(checkpoints):
        shutil.rmtree(checkpoints, ignore_errors=True)  # this node's own, now superseded
    return summary


def _train_artifact(artifact: Any, data: Any, options: Any, **kw: Any) -> Any:
    """``train_artifact`` with the run's files grouped as it expects them."""
    import inspect

    from maskkit.training import train_artifact

    io_keys = ("checkpoint_dir", "checkpoint_every", "run_id", "weights_dirs", "trust_code")
    if "io" in inspect.signature(train_artifact).parameters:
        from maskkit.training.run_io import RunIO

        io = RunIO(**{k: kw.pop(k) for k in io_keys})
        return _call(train_artifact, artifact, data, options, io=io, **kw)
    return _call(train_artifact, artifact, data, options, **kw)


#: Keyword spellings the stage functions have used (the library is being reshaped): a call
#: names whichever the installed function takes.
_ALIASES = {"data_seed": "sample_seed", "source": "name"}


def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    import inspect

    params = inspect.signature(fn).parameters
    for old, new in _ALIASES.items():
        if old in kw and old not in params and new in params:
            kw[new] = kw.pop(old)
        elif new in kw and new not in params and old in params:
            kw[old] = kw.pop(new)
    return fn(*args, **kw)


_STAGES = {
    "init": _init,
    "score": _score,
    "mask": _mask,
    "rewind": _rewind,
    "shuffle": _shuffle,
    "reinit": _reinit,
    "train": _train,
}


# -- helpers -------------------------------------------------------------------------------------
def _save(artifact: Any, path: str) -> dict[str, Any]:
    from maskkit.experiment.index import summarize

    artifact.save(path)
    return summarize(artifact.metadata)


def _dataset(spec: Mapping[str, Any], data_dir: str | None) -> Any:
    """The dataset ``spec`` names, loaded once per worker process."""
    from maskkit.data import load_dataset
    from maskkit.experiment.plan import canonical

    key = canonical([spec, data_dir])
    if key not in _DATASETS:
        shape = spec.get("input_shape")
        _DATASETS[key] = load_dataset(
            spec["name"],
            data_dir=data_dir,
            seed=spec.get("seed", 0),
            input_shape=tuple(shape) if shape else None,
            num_classes=spec.get("num_classes"),
            options=spec.get("options") or None,
        )
    return _DATASETS[key]


def _family(model: str) -> str:
    from maskkit.models import model_family

    return "user" if ":" in model else model_family(model)


def _trust(grid: Mapping[str, Any]) -> Any:
    # The grid names its model and dataset itself: the user chose that code.
    names = [n for n in (grid["model"], grid["dataset"]["name"]) if ":" in n]
    return names or False
