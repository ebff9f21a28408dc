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
    "planner": ["MethodProfile", "Plan", "plan", "crossover", "pareto_frontier", "break_even", "min_size_ratio"],
    "budget": ["budget_to_k"],
}

if TYPE_CHECKING:  # pragma: no cover
    from .budget import budget_to_k
    from .planner import MethodProfile, Plan, break_even, crossover, min_size_ratio, pareto_frontier, plan
    from .record import SelectionCost, StageCost, hardware_info
    from .utility import UtilityModel, fit_utility
else:
    import sys

    from .._lazy_module import LazyModule

    sys.modules[__name__] = LazyModule(__name__, globals()["__file__"], _import_structure)
