"""``ifd``: Instruction-Following Difficulty (Li et al. 2024, "From Quantity to Quality: Boosting LLM Performance with
Self-Guided Data Selection for Instruction Tuning", the "Cherry LLM" paper).

For an instruction ``Q`` and its answer ``A``, with ``s(A | Q)`` the mean token NLL of the answer tokens given the
instruction and ``s(A)`` the mean token NLL of the same answer tokens without it::

    IFD(Q, A) = s(A | Q) / s(A)

A high IFD means the instruction helps little in predicting the answer: a hard, informative example. The paper keeps
the highest-IFD examples (strategy ``"top"``, highest scores first) and discards rows with ``IFD > 1`` (the answer is
*less* likely given the instruction: misaligned pairs). With ``drop_above_one=True`` (default) those rows get the
score ``-1`` (below every valid IFD, which is > 0), so ``"top"`` takes them last.

What is computed, checked against Cherry-LLM (github.com/tianyi-lab/Cherry_LLM, ``cherry_seletion/data_analysis.py``
and ``data_by_IFD.py``):

- ``s(A | Q)``: the row is tokenised once as prompt + completion (the prompt through the chat template for
  conversations); the answer tokens are the completion's, their NLL is averaged (cost stage ``forward_conditioned``).
- ``s(A)``: the *same answer token ids*, placed after a fixed neutral prefix that is not scored, ``answer_prefix``
  (default ``"### Response:"``, encoded as every text is, with the tokenizer's special tokens, e.g. a BOS, unless
  ``add_special_tokens=False``), averaged over the same
  tokens (stage ``forward_answer``). Cherry-LLM scores ``"### Response:" + output`` the same way (the prefix and
  ``<s>`` as context, only the output's tokens in the loss). Both passes therefore score exactly the same tokens, also
  with tokenizers that add no BOS (the first answer token is scored in both).
- ``IFD = s(A|Q) / s(A)``; ``IFD > 1`` dropped (``data_by_IFD.py``: ``if mean_rate > 1: continue``).

Where it differs from Cherry-LLM: the instruction is the row's own prompt as the data gives it (Cherry-LLM wraps it in
its Alpaca / Wizard template ending in ``"### Response:"``); the answer tokens are taken from the conditioned encoding
and reused for ``s(A)`` (Cherry-LLM tokenises the two texts separately, so a token at the answer boundary can differ);
examples are cut at ``max_length`` (default: the model's limit; Cherry-LLM: 512) and a row whose prefix plus answer
would not fit is scored on the answer tokens that fit in both passes.

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
from .model_scoring import ModelScoringConfig, ModelScoringSelector

DROPPED_SCORE = -1.0
CHERRY_PREFIX = "### Response:"


@dataclass
class IFDConfig(ModelScoringConfig):
    """Options of the ``ifd`` selector."""

    drop_above_one: bool = field(default=True, metadata={
        "help": "Give rows with IFD > 1 (answer less likely given the instruction) the score -1, as the paper drops "
                "them."})
    answer_prefix: str = field(default=CHERRY_PREFIX, metadata={
        "help": "Fixed text before the answer when scoring s(A) (context only, never scored; Cherry-LLM's "
                "'### Response:'). Encoded with the special tokens of add_special_tokens (e.g. a BOS)."})


def answer_alone(conditioned: Any, prefix_ids: list[int], max_length: int | None) -> tuple[Any, Any]:
    """The answer tokens of ``conditioned`` (scored tokens of each example) after ``prefix_ids``, scored on the same
    tokens; returns ``(alone, conditioned)`` where ``conditioned`` drops the answer tokens that did not fit in
    ``max_length`` after the prefix (so both score the same token ids)."""
    from ..scoring.encoding import TokenizedExamples

    ids_alone, mask_alone, mask_cond = [], [], []
    prefix = np.asarray(prefix_ids, dtype=np.int64)
    for ids, mask in zip(conditioned.input_ids, conditioned.target_mask):
        scored = np.flatnonzero(mask)
        if scored.size == 0:
            ids_alone.append(prefix.copy())
            mask_alone.append(np.zeros(len(prefix), dtype=bool))
            mask_cond.append(mask)
            continue
        span = np.arange(scored[0], scored[-1] + 1)
        if max_length is not None and len(prefix) + len(span) > max_length:
            span = span[:max(0, max_length - len(prefix))]
        keep = np.zeros(len(mask), dtype=bool)
        keep[span] = True
        mask_cond.append(mask & keep)
        ids_alone.append(np.concatenate([prefix, ids[span]]))
        mask_alone.append(np.concatenate([np.zeros(len(prefix), dtype=bool), mask[span]]))
    lengths = np.array([len(x) for x in ids_alone], dtype=np.int64)
    alone = TokenizedExamples(ids_alone, mask_alone, lengths, max_length, [])
    cond = TokenizedExamples(list(conditioned.input_ids), mask_cond, conditioned.original_lengths,
                             conditioned.max_length, list(conditioned.truncated_rows))
    return alone, cond


@register_selector("ifd")
class IFDSelector(ModelScoringSelector):
    """IFD = NLL(answer | instruction) / NLL(answer); see the module docstring."""

    config_class = IFDConfig
    requires_target = False
    default_view = "full"

    def encoded(self, dataset: Any, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        """``(conditioned, answer alone)`` tokenised examples, scored on the same answer tokens."""
        from ..scoring.encoding import encode

        pairs = self.items(dataset, tokenizer, pairs=True)
        conditioned = self.encode(model, tokenizer, pairs, completion_only=True)
        prefix_ids = encode([self.config.answer_prefix], tokenizer,
                            add_special_tokens=self.config.add_special_tokens).input_ids[0].tolist()
        if not prefix_ids:
            raise ValueError("answer_prefix gives no token (and the tokenizer adds none): s(A) needs at least one "
                             "context token before the answer; use a non-empty answer_prefix.")
        alone, cond = answer_alone(conditioned, prefix_ids, self.max_length(model, tokenizer))
        return cond, alone

    def estimate_cost(self, dataset: Any, target: Any = None) -> Any:
        """Analytic cost of the two forward passes (tokenises, runs nothing)."""
        model, tokenizer = self.load()
        cond_ex, alone_ex = self.encoded(dataset, model, tokenizer)
        return self.estimated([self.forward_cost("forward_conditioned", model, tokenizer, cond_ex),
                               self.forward_cost("forward_answer", model, tokenizer, alone_ex)])

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        model, tokenizer = self.load()
        cond_ex, alone_ex = self.encoded(dataset, model, tokenizer)
        cond = self.nll(model, tokenizer, cond_ex, stage="forward_conditioned", completion_only=True)
        alone = self.nll(model, tokenizer, alone_ex, stage="forward_answer", completion_only=True,
                         key_extra={"answer_prefix": self.config.answer_prefix})
        with np.errstate(invalid="ignore", divide="ignore"):
            ifd = cond.mean_nll / alone.mean_nll
        valid = (cond.num_targets > 0) & (alone.num_targets > 0) & np.isfinite(ifd)
        self.last_nll = cond.mean_nll
        scores = np.where(valid, ifd, np.nan)
        if self.config.drop_above_one:
            above = valid & (ifd > 1.0)
            scores[above] = DROPPED_SCORE
            self.cost.notes["num_ifd_above_one"] = int(above.sum())
        return self.finish(scores, valid)  # unscored rows go below / above every score, dropped ones included
