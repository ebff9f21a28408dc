"""``ifd``: Instruction-Following Difficulty (Li et al. 2024, "From Quantity to Quality: Boosting LLM Performance with
Self-Guided Data Selection for Instruction Tuning", the "Cherry LLM" paper).

For an instruction ``Q`` and its answer ``A``, with ``s(A | Q)`` the mean token NLL of the answer tokens given the
instruction and ``s(A)`` the mean token NLL of the answer alone::

    IFD(Q, A) = s(A | Q) / s(A)

A high IFD means the instruction helps little in predicting the answer: a hard, informative example. The paper keeps
the highest-IFD examples (strategy ``"top"``) and discards rows with ``IFD >= 1`` (the answer is *less* likely given
the instruction: misaligned pairs). With ``drop_above_one=True`` (default) those rows get the score ``-1`` (below
every valid IFD, which is > 0), so ``"top"`` takes them last. Both passes run on the fast engine of
:mod:`hf_select.scoring`; cost stages ``forward_conditioned`` and ``forward_answer``.

Example:
    >>> import hf_select as hs
    >>> from hf_select.testing import tiny_llama, toy_tokenizer
    >>> rows = [{"prompt": "Say hi: ", "completion": "hi there"}, {"prompt": "Count: ", "completion": "1 2 3 4"}]
    >>> sel = hs.get_selector("ifd", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(), dtype="float32",
    ...                       show_progress=False, drop_above_one=False)
    >>> scores = sel.score(rows)
    >>> bool((scores > 0).all()), [s.name for s in sel.last_cost.stages][1:3]
    (True, ['forward_conditioned', 'forward_answer'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import register_selector
from .perplexity import ModelScoringConfig, ModelScoringSelector

DROPPED_SCORE = -1.0


@dataclass
class IFDConfig(ModelScoringConfig):
    """Options of the ``ifd`` selector."""

    drop_above_one: bool = field(default=True, metadata={
        "help": "Give rows with IFD >= 1 (answer less likely given the instruction) the score -1, as the paper drops "
                "them."})


@register_selector("ifd")
class IFDSelector(ModelScoringSelector):
    """IFD = NLL(answer | instruction) / NLL(answer); see the module docstring."""

    config_class = IFDConfig
    requires_target = False
    default_view = "full"

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        model, tokenizer = self.load()
        pairs = self.items(dataset, tokenizer, pairs=True)
        answers = [c for _, c in pairs]
        cond = self.nll(model, tokenizer, pairs, stage="forward_conditioned", completion_only=True)
        alone = self.nll(model, tokenizer, answers, stage="forward_answer")
        with np.errstate(invalid="ignore", divide="ignore"):
            ifd = cond.mean_nll / alone.mean_nll
        valid = (cond.num_targets > 0) & (alone.num_targets > 0) & np.isfinite(ifd)
        self.last_nll = cond.mean_nll
        scores = np.where(valid, ifd, np.nan)
        if self.config.drop_above_one:
            above = valid & (ifd >= 1.0)
            scores[above] = DROPPED_SCORE
            self.cost.notes["num_ifd_above_one"] = int(above.sum())
        return self.finish(scores, valid)  # unscored rows go below / above every score, dropped ones included
