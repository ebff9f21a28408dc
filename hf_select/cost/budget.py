"""Turn a FLOP budget into a subset size: selection is paid first, training gets the rest.

``select(dataset, selector, budget_flops=B, train_model=...)`` calls :func:`budget_to_k` after scoring: the selection
cost ``s`` is known (``SelectionCost.flops``), training one example of ``L`` tokens for ``epochs`` costs
``epochs * 6 * N * L`` under the ``"full"`` training convention (or the detailed count with the attention term; under
``"lora"``, LoRA training on a frozen base: ``epochs * (4 * N + 6 * lora_params) * L``; see
:func:`~hf_select.cost.flops.training_flops`), and ``k`` is the largest number of examples whose training fits in
``B - s``.

Example:
    >>> from hf_select.cost.budget import budget_to_k
    >>> from hf_select.cost.record import SelectionCost, StageCost
    >>> cost = SelectionCost(stages=[StageCost("forward_pool", flops=4e9)])
    >>> budget_to_k(1e10, cost, lengths=[100] * 50, train_model=1_000_000)   # 6e8 FLOPs per example
    (10, 6000000000.0)
    >>> budget_to_k(1e10, cost, lengths=[100] * 50, train_model=1_000_000, train_convention="lora",
    ...             lora_params=10_000)   # 4.06e8 each
    (14, 5684000000.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .convention import DEFAULT_TRAIN_CONVENTION
from .flops import CONVENTIONS, model_spec, training_flops
from .record import SelectionCost

# Characters per token used to estimate lengths from text when no tokenizer is given (a common rule of thumb for
# English text with BPE tokenizers of 32k-50k entries).
DEFAULT_CHARS_PER_TOKEN = 4.0


def _selection_flops(selection_cost: Any) -> float:
    if isinstance(selection_cost, SelectionCost):
        return selection_cost.flops
    if isinstance(selection_cost, (int, float, np.integer, np.floating)) and not isinstance(selection_cost, bool):
        if math.isfinite(selection_cost) and selection_cost >= 0:
            return float(selection_cost)
    raise ValueError(f"selection_cost must be a SelectionCost or a non-negative number of FLOPs, got {selection_cost!r}.")


def dataset_lengths(dataset: Any, *, tokenizer: Any = None, text_field: str | None = None,
                    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> np.ndarray:
    """Tokens per example of ``dataset``: its ``input_ids`` column, else its full text view tokenized with
    ``tokenizer`` (an object or a local path), else ``ceil(characters / chars_per_token)``."""
    cols = getattr(dataset, "column_names", None) or []
    if "input_ids" in cols:
        return np.asarray([len(ids) for ids in dataset["input_ids"]], dtype=np.int64)
    from ..data.formats import text_view

    texts = text_view(dataset, "full", text_field=text_field, tokenizer=tokenizer if tokenizer is not None and
                      not isinstance(tokenizer, str) else None)
    if tokenizer is not None:
        from ..scoring.encoding import encode  # the scoring engine's tokens: same special-token rule
        from ..scoring.loading import load_tokenizer

        tokenizer = load_tokenizer(None, tokenizer) if isinstance(tokenizer, str) else tokenizer
        return encode(texts, tokenizer).lengths
    if not chars_per_token > 0:
        raise ValueError(f"chars_per_token must be > 0, got {chars_per_token!r}.")
    return np.asarray([max(1, math.ceil(len(t) / chars_per_token)) for t in texts], dtype=np.int64)


def budget_to_k(budget_flops: float, selection_cost: Any, *, train_model: Any, dataset: Any = None,
                lengths: Any = None, tokens_per_example: float | None = None, n_examples: int | None = None,
                epochs: float = 1.0, convention: str = "6N", order: Any = None, tokenizer: Any = None,
                chars_per_token: float = DEFAULT_CHARS_PER_TOKEN, lora_params: float | None = None,
                train_convention: str = DEFAULT_TRAIN_CONVENTION) -> tuple[int, float]:
    """The largest ``k`` whose predicted training fits in what selection leaves of ``budget_flops``.

    Args:
        budget_flops: total budget (selection + training), FLOPs.
        selection_cost: the selection's :class:`SelectionCost` (or its FLOPs).
        train_model: the model to be trained: a parameter count, a transformers config, or a path to a config.json /
            model folder.
        dataset / lengths / tokens_per_example: the pool's token counts: per-example ``lengths``, or measured from
            ``dataset`` (see :func:`dataset_lengths`), or a mean ``tokens_per_example`` (then ``n_examples`` caps k).
        epochs: epochs the budget must pay for.
        convention: ``"6N"`` or ``"detailed"`` (see :mod:`hf_select.cost.flops`).
        order: the priority order of the examples (e.g. ``np.argsort(-scores)``); when given, k is the longest prefix
            of that order whose exact training cost fits. Without it, every example is priced at the mean cost.
        lora_params: trainable LoRA parameters of the training (needed by ``train_convention="lora"``).
        train_convention: ``"full"`` (6N per token, the paper's) or ``"lora"`` (4N + 6L per token); see
            :mod:`hf_select.cost.convention`.

    Returns:
        ``(k, predicted_train_flops)``; ``k`` is at most the pool size.

    Raises:
        ValueError: selection alone exceeds the budget, or the rest cannot train even one example (the message gives
            the smallest budget that works).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}.")
    if not (isinstance(budget_flops, (int, float, np.integer, np.floating)) and math.isfinite(budget_flops)
            and budget_flops > 0):
        raise ValueError(f"budget_flops must be a positive finite number of FLOPs, got {budget_flops!r}.")
    if not (math.isfinite(epochs) and epochs > 0):
        raise ValueError(f"epochs must be > 0, got {epochs!r}.")
    if train_model is None:
        raise ValueError("budget_to_k needs train_model=<parameter count | transformers config | config path>.")
    spec = model_spec(train_model)
    sel = _selection_flops(selection_cost)

    def cost_of(length: float) -> float:
        return training_flops(spec, [length], train_convention=train_convention, lora_params=lora_params,
                              epochs=epochs, convention=convention)

    cost_of(1.0)  # validates the convention and its lora_params before any tokenization

    if lengths is None and dataset is not None:
        lengths = dataset_lengths(dataset, tokenizer=tokenizer, chars_per_token=chars_per_token)
    if lengths is not None:
        flat = np.asarray(lengths, dtype=np.float64).ravel()
        if convention == "detailed":  # the attention term is quadratic per example
            per_example = np.array([cost_of(L) for L in flat])
        else:  # 6N (or LoRA's 4N + 6 * lora_params) per token: linear in the length
            per_example = cost_of(1.0) * flat
        if per_example.size == 0:
            raise ValueError("The pool is empty: nothing to train on.")
    elif tokens_per_example is not None:
        if not tokens_per_example > 0:
            raise ValueError(f"tokens_per_example must be > 0, got {tokens_per_example!r}.")
        per_example = None
        mean_cost = cost_of(tokens_per_example)
    else:
        raise ValueError("budget_to_k needs the pool's token counts: dataset=, lengths= or tokens_per_example=.")

    if per_example is not None:
        mean_cost = float(per_example.mean())
        n = per_example.size
    else:
        n = n_examples
    cheapest = mean_cost if (per_example is None or order is None) else float(per_example[np.asarray(order)[0]])
    left = budget_flops - sel
    if left < cheapest:
        what = ("selection alone exceeds the budget" if left < 0 else
                "what selection leaves cannot train a single example")
        raise ValueError(f"budget_flops={budget_flops:.4g}: {what} (selection {sel:.4g} FLOPs, one example "
                         f"{cheapest:.4g} FLOPs). The smallest workable budget is {sel + cheapest:.4g} FLOPs.")
    if per_example is not None and order is not None:
        idx = np.asarray(order, dtype=np.int64).ravel()
        cum = np.cumsum(per_example[idx])
        k = int(np.searchsorted(cum, left, side="right"))
        return k, float(cum[k - 1])
    k = math.floor(left / mean_cost * (1 + 1e-12))
    if n is not None:
        k = min(k, int(n))
    return k, float(k * mean_cost)
