"""``maskkit rewind``: point a mask's init reference at a weights file (lottery-ticket rewinding)."""

from __future__ import annotations

import click

from maskkit_cli.options import input_argument, output_option, trust_option
from maskkit_cli.streams import run_stage


@click.command()
@input_argument
@click.option(
    "--to",
    "to",
    required=True,
    metavar="WEIGHTS",
    help="Weights file to start training from (a maskkit weights artifact or plain safetensors).",
)
@trust_option
@output_option
def rewind(input: str, to: str, trust_code: bool, output: str | None) -> None:
    """Make training under this mask start from the weights in WEIGHTS.

    The mask records the file's SHA-256 and its path, relative to the folder of -o (with
    stdout: as given). 'maskkit train' looks the file up by that hash: at the recorded path
    (relative to the mask's folder), beside the mask, then in --weights-dir folders and
    MASKKIT_WEIGHTS_PATH. Rewinding to the weights of step k of the dense run is
    lottery-ticket rewinding.

    \b
    Example:
      maskkit train --save-at 500 -o dense.safetensors dense-init.safetensors
      maskkit score --method magnitude dense.safetensors | maskkit mask --sparsity 0.8 \\
        | maskkit rewind --to dense_step500.safetensors | maskkit train > ticket.safetensors
    """
    from maskkit import stages
    from maskkit_cli.streams import load_input

    folder = _output_folder(output)
    run_stage(
        output,
        lambda: stages.rewind(
            load_input(input, kind="mask"), to, relative_to=folder, trust_code=trust_code
        ),
    )


def _output_folder(output: str | None) -> str | None:
    """The folder the mask is saved in; None when it goes to stdout, a pipe or a device."""
    import os
    import stat

    if output in (None, "-"):
        return None
    try:
        if not stat.S_ISREG(os.stat(output).st_mode):
            return None
    except OSError:  # not there yet: a new file in that folder
        pass
    return os.path.dirname(os.path.abspath(output))
