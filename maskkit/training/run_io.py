"""Where a training run's files come from and go to: nothing here changes the trained weights.

One frozen record passed down from the commands through ``train_artifact`` and
``iterative_magnitude_pruning`` to ``train``, so that a new knob of this kind is one field, not
one more keyword on every function of the stack (OpenLTH's hparams idea).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from maskkit.training.options import Duration

Progress = Callable[[int, int, "float | None"], None]
"""Called as ``progress(step, total_steps, mean_recent_loss)``; first with the starting step.

If the object also has an ``evaluation(record)`` method, it receives every evaluation record
(the dict also written to the log); a ``resumed(step)`` method is called when the run resumes
from the checkpoint of ``step``, before training goes on. Only rank 0 calls any of them.
"""


@dataclass(frozen=True)
class RunIO:
    """A run's inputs and outputs beside the model, data and options.

    ``checkpoint_dir``: resumable checkpoints (a rerun resumes); ``checkpoint_every``: their
    interval (default one epoch); ``log_path``: one JSON line per evaluation; ``progress``: see
    :data:`Progress`; ``run_id``: mixed into the checkpoint identity (what the model state cannot
    show, such as the dataset's options); ``weights_dirs``: folders searched for a mask's initial
    weights; ``trust_code``: which ``package.module:callable`` models may run.
    """

    checkpoint_dir: str | os.PathLike[str] | None = None
    checkpoint_every: Duration | None = None
    log_path: str | os.PathLike[str] | None = None
    progress: Progress | None = None
    run_id: str = ""
    weights_dirs: Sequence[str | os.PathLike[str]] = ()
    trust_code: bool | Collection[str] = False

    def replace(self, **changes: Any) -> RunIO:
        return dataclasses.replace(self, **changes)


NO_IO = RunIO()
"""No checkpoints, no log, no progress: the default of every function that takes a RunIO."""
