"""Cost model: FLOPs of selection and training, a fitted utility model, the compute-optimal planner.

Example:
    >>> from hf_select.cost import pareto_frontier
    >>> [p["name"] for p in pareto_frontier([
    ...     {"name": "a", "flops": 1.0, "performance": 50.0},
    ...     {"name": "b", "flops": 2.0, "performance": 40.0},
    ...     {"name": "c", "flops": 3.0, "performance": 60.0}])]
    ['a', 'c']
"""

from typing import TYPE_CHECKING

_import_structure: dict[str, list[str]] = {
    "record": ["SelectionCost", "StageCost", "hardware_info"],
    "utility": ["fit_utility", "UtilityModel"],
    "planner": ["MethodProfile", "Plan", "PlanRow", "plan", "crossover", "pareto_frontier", "profiles_from_runs",
                "THEORY_GAIN_RATES"],
    "breakeven": ["amortize", "break_even", "min_size_ratio"],
    "budget": ["budget_to_k", "dataset_lengths"],
    "flops": ["forward_flops", "train_flops", "lora_train_flops", "count_params_from_config", "model_spec",
              "ModelSpec", "lengths_from_position_ids", "perplexity_selection_flops", "embedding_selection_flops",
              "less_pipeline_flops", "bm25_selection_flops", "dsir_selection_flops"],
    "hardware": ["gpu_hours_to_flops", "gpu_peak_flops", "gpu_spec", "list_gpus", "GPUS"],
    "plots": ["plot_frontier", "plot_utility", "plot_plan"],
}

if TYPE_CHECKING:  # pragma: no cover
    from .breakeven import amortize, break_even, min_size_ratio
    from .budget import budget_to_k, dataset_lengths
    from .flops import (
        ModelSpec,
        bm25_selection_flops,
        count_params_from_config,
        dsir_selection_flops,
        embedding_selection_flops,
        forward_flops,
        lengths_from_position_ids,
        less_pipeline_flops,
        lora_train_flops,
        model_spec,
        perplexity_selection_flops,
        train_flops,
    )
    from .hardware import GPUS, gpu_hours_to_flops, gpu_peak_flops, gpu_spec, list_gpus
    from .planner import (
        THEORY_GAIN_RATES,
        MethodProfile,
        Plan,
        PlanRow,
        crossover,
        pareto_frontier,
        plan,
        profiles_from_runs,
    )
    from .plots import plot_frontier, plot_plan, plot_utility
    from .record import SelectionCost, StageCost, hardware_info
    from .utility import UtilityModel, fit_utility
else:
    import sys

    from .._lazy_module import LazyModule

    sys.modules[__name__] = LazyModule(__name__, globals()["__file__"], _import_structure, module_spec=__spec__)
