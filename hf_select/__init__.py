"""hf_select: compute-constrained data selection for LLM fine-tuning.

``import hf_select`` is lazy: it imports neither torch nor transformers; each public name is imported on first use.

Example:
    >>> import hf_select as hs
    >>> "bm25" in hs.list_selectors()
    True
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0.dev0"

_import_structure: dict[str, list[str]] = {
    "selection": ["select"],
    "result": ["SelectionResult"],
    "selectors": ["Selector", "SelectorConfig", "register_selector", "get_selector", "list_selectors"],
    "config": ["SelectionConfig"],
    "cost.record": ["SelectionCost", "StageCost"],
    "data.formats": ["text_view", "detect_format"],
    "data.builtin": ["load_builtin_pool", "load_builtin_target"],
    "trainer": ["SelectiveSFTTrainer", "SelectionMixin", "get_trainer", "register_trainer"],
    "hub": ["load_selection", "push_selection"],
    "streaming": [],
}

if TYPE_CHECKING:  # pragma: no cover
    from .config import SelectionConfig
    from .cost.record import SelectionCost, StageCost
    from .data.builtin import load_builtin_pool, load_builtin_target
    from .data.formats import detect_format, text_view
    from .hub import load_selection, push_selection
    from .result import SelectionResult
    from .selection import select
    from .selectors import Selector, SelectorConfig, get_selector, list_selectors, register_selector
    from . import streaming
    from .trainer import SelectionMixin, SelectiveSFTTrainer, get_trainer, register_trainer
else:
    import sys

    from ._lazy_module import LazyModule

    sys.modules[__name__] = LazyModule(
        __name__, globals()["__file__"], _import_structure, extra_objects={"__version__": __version__},
        module_spec=__spec__,
    )
