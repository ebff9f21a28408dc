"""hf_select Triton kernels (HF ``kernels`` repository layout).

``fused_linear_cross_entropy_nll(hidden, weight, labels, ignore_index=-100)`` returns the per-token NLL ``[T]`` in fp32
without materialising the ``[T, V]`` logits; see :mod:`.fused_linear_ce` for the formula and sources.
"""

from ._ops import ops
from .fused_linear_ce import fused_linear_ce_nll_op, fused_linear_cross_entropy_nll

__all__ = ["fused_linear_ce_nll_op", "fused_linear_cross_entropy_nll", "ops"]
