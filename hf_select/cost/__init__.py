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
                "THEORY_GAIN_RATES", "NO_SELECTION"],
    "breakeven": ["amortize", "break_even", "min_size_ratio", "size_ratio_table", "SizeRatioTable"],
    "budget": ["budget_to_k", "dataset_lengths"],
    "convention": ["TRAIN_CONVENTIONS", "DEFAULT_TRAIN_CONVENTION", "check_train_convention",
                   "describe_train_convention"],
    "formatting": ["format_flops", "format_seconds", "format_count", "format_table"],
    "profiles": ["default_profiles", "PlanInputs", "DEFAULT_LORA_FRACTION", "DEFAULT_EMBED_PARAMS"],
    "runs": ["read_runs", "RunsTable", "BASE_METHOD", "FULL_METHOD"],
    "flops": ["forward_flops", "train_flops", "lora_train_flops", "training_flops", "count_params_from_config",
              "model_spec", "ModelSpec", "lengths_from_position_ids", "perplexity_selection_flops",
              "embedding_selection_flops", "less_pipeline_flops", "bm25_selection_flops", "dsir_selection_flops"],
    "hardware": ["gpu_hours_to_flops", "gpu_peak_flops", "gpu_spec", "list_gpus", "GPUS"],
    "plots": ["plot_frontier", "plot_utility", "plot_plan"],
}

if TYPE_CHECKING:  # pragma: no cover
    from .breakeven import SizeRatioTable, amortize, break_even, min_size_ratio, size_ratio_table
    from .budget import budget_to_k, dataset_lengths
    from .convention import (
        DEFAULT_TRAIN_CONVENTION,
        TRAIN_CONVENTIONS,
        check_train_convention,
        describe_train_convention,
    )
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
        training_flops,
    )
    from .formatting import format_count, format_flops, format_seconds, format_table
    from .hardware import GPUS, gpu_hours_to_flops, gpu_peak_flops, gpu_spec, list_gpus
    from .planner import (
        NO_SELECTION,
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
    from .profiles import DEFAULT_EMBED_PARAMS, DEFAULT_LORA_FRACTION, PlanInputs, default_profiles
    from .record import SelectionCost, StageCost, hardware_info
    from .runs import BASE_METHOD, FULL_METHOD, RunsTable, read_runs
    from .utility import UtilityModel, fit_utility
else:
    import sys

    from .._lazy_module import LazyModule

    sys.modules[__name__] = LazyModule(__name__, globals()["__file__"], _import_structure, module_spec=__spec__)
