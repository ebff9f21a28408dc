"""Re-selection during training: re-score the filtered pool with the model being trained and swap the subset.

Used by :meth:`SelectionMixin.reselect <hf_select.trainer.mixin.SelectionMixin.reselect>` (called by the
:class:`~hf_select.trainer.callbacks.ReselectionCallback` every epoch or every N steps with
``SelectionConfig(refresh=...)``). The new selection keeps the first one's size, strategy and seed; its FLOPs are added
to the run's selection FLOPs and it is appended to ``trainer.selection_history``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def reselect(trainer: Any) -> Any:
    """Re-score ``trainer``'s filtered pool with its current model; swap the sampler's subset; return the result."""
    from ..selection import SelectionResult, select

    hs = trainer._hs
    if hs is None or hs.sampler is None:
        raise ValueError("reselect() needs a trainer built with a selector and SelectionConfig(refresh=...).")
    model = trainer.accelerator.unwrap_model(trainer.model)
    options = {f.name: getattr(hs.selector.config, f.name) for f in dataclasses.fields(hs.selector.config)}
    options["model"] = model
    was_training = model.training
    previous = trainer.selection
    try:
        sel = type(hs.selector)(**options)
        cfg = dataclasses.replace(hs.config, selector=sel, selector_kwargs={}, k=previous.k, fraction=None,
                                  budget_flops=None, filters=[], train_model=None)
        sub = select(hs.pool.select(hs.kept_rows), sel, config=cfg)
    finally:
        model.train(was_training)
    scores = np.full(hs.pool.num_rows, -np.inf)
    scores[hs.kept_rows] = sub.scores
    result = SelectionResult(indices=hs.kept_rows[sub.indices], scores=scores, cost=sub.cost,
                             config={**sub.config, "reselection": len(hs.history)},
                             provenance=previous.provenance, dataset=hs.pool)
    hs.history.append(result)
    trainer.selection = result
    hs.flops.add_selection(result.cost.flops)
    hs.sampler.set_positions(trainer._positions_of(result.indices))
    changed = result.k - len(set(result.indices.tolist()) & set(previous.indices.tolist()))
    logger.info("hf_select re-selection %d at step %d: %d rows changed, %.3g FLOPs", len(hs.history) - 1,
                trainer.state.global_step, changed, result.cost.flops)
    return result
