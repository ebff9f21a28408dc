"""Op namespace of this kernel package (``kernel-builder`` generates an equivalent file in build outputs).

The namespace is fixed so that ``torch.ops._hf_select_kernels.<op>`` can be reached from any loader; the op module
re-uses an already registered op instead of registering it twice when the package is loaded from two paths.
"""

import torch

NAMESPACE = "_hf_select_kernels"
ops = getattr(torch.ops, NAMESPACE)


def add_op_namespace_prefix(op_name: str) -> str:
    """``"name"`` -> ``"_hf_select_kernels::name"``."""
    return f"{NAMESPACE}::{op_name}"
