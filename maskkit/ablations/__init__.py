"""The paper's mask ablations that act on the mask's tensors (shuffle).

The others change what the mask records rather than its tensors (``reinit``, ``rewind``: the
init reference) or how it is made (``invert``: an option of the mask rule); they live in
:mod:`maskkit.stages` and :mod:`maskkit.masking`.
"""
