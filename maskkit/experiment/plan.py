"""A grid as a DAG of stage nodes whose identities come from their content.

A node's id is a hash of its stage, its options and its inputs' ids, so the nodes that many cells
share (one init per seed, one dense run per seed, one score per method x seed x k) are one node,
and a rerun finds the same ids, hence the same files. Standard library only.

>>> from maskkit.experiment.grid import parse_grid
>>> g = parse_grid('[model]\\nname = "lenet300"\\n[dataset]\\nname = "mnist"\\n'
...                '[grid]\\nmethods = ["snip"]\\nsparsities = [0.5, 0.9]\\n'
...                'ablations = ["none", "shuffle"]')
>>> p = build_plan(g)
>>> len(p.cells), len(p.nodes), sorted({n.stage for n in p.nodes.values()})
(4, 10, ['init', 'mask', 'score', 'shuffle', 'train'])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from maskkit.experiment.grid import ABLATION_SEED_OFFSET, Cell, Grid

#: Training set sizes of the built-in datasets, for the work estimate only.
_TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "cifar100": 50_000}


def canonical(value: Any) -> str:
    """Sorted keys, no spaces: the text a node's identity is hashed from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Node:
    """One stage run. ``inputs`` name other nodes' outputs: ``ID`` (the artifact) or ``ID#stepK``
    (the weights a training node saved at step K)."""

    stage: str
    options: Mapping[str, Any]
    inputs: tuple[str, ...] = ()
    saves: tuple[int, ...] = ()  # training nodes: the steps whose weights are kept too
    node_id: str = field(default="", compare=False)

    @staticmethod
    def make(
        stage: str,
        options: Mapping[str, Any],
        inputs: tuple[str, ...] = (),
        saves: tuple[int, ...] = (),
    ) -> Node:
        body = canonical({"stage": stage, "options": options, "inputs": list(inputs)})
        digest = hashlib.sha256(body.encode()).hexdigest()[:20]
        return Node(stage, dict(options), inputs, saves, f"{stage}-{digest}")

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The ids of the nodes whose outputs this one reads."""
        return tuple(dict.fromkeys(ref.split("#")[0] for ref in self.inputs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "stage": self.stage,
            "options": dict(self.options),
            "inputs": list(self.inputs),
            "saves": list(self.saves),
        }


@dataclass(frozen=True)
class CellPlan:
    cell: Cell
    result: str  # the training node whose weights and metrics are the cell's
    mask: str | None  # the node of the mask it trains under (None: dense)
    chain: tuple[str, ...]  # every node it needs, itself included, in plan order


@dataclass
class Plan:
    grid: Grid
    nodes: dict[str, Node]  # topological order: inputs before the nodes that read them
    cells: list[CellPlan]

    def dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for dep in node.depends_on:
                out[dep].append(node.node_id)
        return out

    def downstream(self, node_id: str) -> set[str]:
        """Every node that needs ``node_id``, directly or not."""
        children = self.dependents()
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            for child in children[todo.pop()]:
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    def training_steps(self, exclude: Collection[str] = ()) -> int | None:
        """Optimizer steps of the training nodes not in ``exclude`` (None: the dataset size is
        unknown)."""
        size = self.grid.dataset.get("options", {}).get("train_size")
        if self.grid.dataset["name"] == "synthetic":
            size = size or 5000
        size = size or _TRAIN_SIZES.get(self.grid.dataset["name"])
        if size is None:
            return None
        total = 0
        for node in self.nodes.values():
            if node.stage == "train" and node.node_id not in exclude:
                total += _steps(node.options["training"], size) - node.options.get("start", 0)
        return total


def _steps(training: Mapping[str, Any], size: int) -> int:
    if training.get("steps") is not None:
        return int(training["steps"])
    per_epoch = -(-size // int(training.get("batch_size", 128)))
    return int(training.get("epochs", 0)) * per_epoch


def build_plan(grid: Grid) -> Plan:
    """Expand ``grid`` into its nodes, each once, and each cell's chain through them."""
    from maskkit.models import model_family
    from maskkit.training.options import family_defaults

    family = "user" if ":" in grid.model else model_family(grid.model)
    training_base = {**family_defaults(family, grid.dataset["name"]), **grid.training}
    if "steps" in grid.training:
        training_base.pop("epochs", None)
    elif "epochs" in grid.training:
        training_base.pop("steps", None)
    nodes: dict[str, Node] = {}
    position: dict[str, int] = {}

    def add(node: Node) -> str:
        if node.node_id not in nodes:
            nodes[node.node_id] = node
            position[node.node_id] = len(position)
        return node.node_id

    def training(seed: int) -> dict[str, Any]:
        return {**training_base, "seed": grid.training.get("seed", seed)}

    data = grid.dataset
    saves: dict[int, set[int]] = {}
    for c in grid.cells:
        if c.method not in ("dense", "lottery") and c.prune_at > 0:
            saves.setdefault(c.seed, set()).add(c.prune_at)
        if c.method == "lottery" and c.prune_at > 0:
            saves.setdefault(c.seed, set()).add(c.prune_at)

    def init(seed: int) -> str:
        opts = {"model": grid.model, "model_args": grid.model_args, "dataset": data, "seed": seed}
        return add(Node.make("init", opts))

    def dense(seed: int) -> str:
        keep = tuple(sorted(saves.get(seed, ())))
        opts = {"training": training(seed), "dataset": data, "save_at": list(keep)}
        return add(Node.make("train", opts, (init(seed),), keep))

    cells = []
    for c in grid.cells:
        if c.method == "dense":
            result = dense(c.seed)
            cells.append(CellPlan(c, result, None, _chain(nodes, position, result)))
            continue
        method = "magnitude" if c.method == "lottery" else c.method
        if c.method == "lottery":
            scored = dense(c.seed)
        elif c.prune_at > 0:
            scored = f"{dense(c.seed)}#step{c.prune_at}"
        else:
            scored = init(c.seed)
        method_opts = dict(grid.method_options.get(method, {}))
        if method == "synflow":
            method_opts.setdefault("sparsity", c.sparsity)
        score = add(
            Node.make(
                "score",
                {
                    "method": method,
                    "options": method_opts,
                    "seed": c.seed,
                    "samples_per_class": grid.samples_per_class,
                    "data_seed": grid.data_seed,
                    "dataset": data,
                },
                (scored,),
            )
        )
        mask = add(
            Node.make("mask", {"sparsity": c.sparsity, "invert": c.ablation == "invert"}, (score,))
        )
        start = 0
        if c.prune_at > 0:
            mask = add(Node.make("rewind", {}, (mask, f"{dense(c.seed)}#step{c.prune_at}")))
            start = c.prune_at
        if c.ablation in ("shuffle", "reinit"):
            mask = add(Node.make(c.ablation, {"seed": c.seed + ABLATION_SEED_OFFSET}, (mask,)))
            if c.ablation == "reinit":
                start = 0  # a fresh initialisation trains from the first step
        opts = {"training": training(c.seed), "dataset": data, "start": start}
        result = add(Node.make("train", opts, (mask,)))
        cells.append(CellPlan(c, result, mask, _chain(nodes, position, result)))
    return Plan(grid, nodes, cells)


def _chain(nodes: Mapping[str, Node], position: Mapping[str, int], last: str) -> tuple[str, ...]:
    seen: set[str] = set()
    todo = [last]
    while todo:
        node_id = todo.pop()
        if node_id not in seen:
            seen.add(node_id)
            todo.extend(nodes[node_id].depends_on)
    return tuple(sorted(seen, key=position.__getitem__))


def topological(nodes: Mapping[str, Node]) -> Iterator[Node]:
    """The nodes in an order where every input comes first (the plan's own order)."""
    yield from nodes.values()
