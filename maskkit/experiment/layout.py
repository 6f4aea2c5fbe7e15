"""Where an experiment's files live under its folder DIR (standard library only).

    DIR/grid.toml                    the grid the last run used
    DIR/experiment.json              what the run learnt of the model (layer costs, prunable count)
    DIR/index.sqlite                 the index (rebuilt from the rest by ``experiment index``)
    DIR/artifacts/<node>.safetensors one artifact per node; <node>.step<K>.safetensors for the
                                     weights a training node saved at step K
    DIR/nodes/<node>.json            the node's record: stage, options, inputs, status, wall time
    DIR/logs/<node>.log              a failed node's traceback
    DIR/checkpoints/<node>/          a training node's checkpoints while it runs
    DIR/damaged/                     artifacts that failed to verify, moved aside (never deleted)

Artifacts sit in one folder so that a rewound mask names its starting weights by a path
relative to itself that is the same on every machine and in every DIR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The entries an experiment folder may hold; anything else means the folder is not one.
ENTRIES = {
    "grid.toml",
    "experiment.json",
    "index.sqlite",
    "index.sqlite-journal",
    "artifacts",
    "nodes",
    "logs",
    "checkpoints",
    "damaged",
    ".lock",
}


@dataclass(frozen=True)
class Layout:
    root: str

    @property
    def grid(self) -> str:
        return os.path.join(self.root, "grid.toml")

    @property
    def info(self) -> str:
        return os.path.join(self.root, "experiment.json")

    @property
    def index(self) -> str:
        return os.path.join(self.root, "index.sqlite")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, ".lock")

    @property
    def artifacts(self) -> str:
        return os.path.join(self.root, "artifacts")

    def artifact(self, node_id: str, step: int | None = None) -> str:
        suffix = "" if step is None else f".step{step}"
        return os.path.join(self.artifacts, f"{node_id}{suffix}.safetensors")

    def ref(self, ref: str) -> str:
        """The file of an input reference ``ID`` or ``ID#stepK``."""
        node_id, _, step = ref.partition("#")
        return self.artifact(node_id, int(step[4:]) if step else None)

    def record(self, node_id: str) -> str:
        return os.path.join(self.root, "nodes", f"{node_id}.json")

    def log(self, node_id: str) -> str:
        return os.path.join(self.root, "logs", f"{node_id}.log")

    def checkpoints(self, node_id: str) -> str:
        return os.path.join(self.root, "checkpoints", node_id)

    @property
    def damaged(self) -> str:
        return os.path.join(self.root, "damaged")

    def make_dirs(self) -> None:
        for sub in ("artifacts", "nodes", "logs", "checkpoints"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    def foreign_entries(self) -> list[str]:
        """What in DIR is not an experiment's (empty for a new or an experiment folder)."""
        if not os.path.isdir(self.root):
            return []
        return sorted(e for e in os.listdir(self.root) if e not in ENTRIES)
