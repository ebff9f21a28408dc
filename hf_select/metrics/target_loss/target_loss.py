"""``target_loss``: mean loss and perplexity on a target set, as a local ``evaluate`` module.

Two ways to call it (``evaluate.load(<path of this folder>)``; nothing is fetched from the Hub):

1. Per-example losses you already have: ``predictions`` = one mean negative log-likelihood (nats/token) per example,
   optional ``weights`` = each example's token count, for the token-weighted mean::

       metric.compute(predictions=[2.1, 1.7, 3.0], weights=[10, 4, 6])

2. Texts and a model: ``predictions`` = the texts, compute kwargs ``model`` (a causal LM) and ``tokenizer``;
   optional ``prompts`` (one per text, a prefix of it whose tokens are not scored, for completion-only loss),
   ``batch_size`` (default 8), ``max_length`` (default: none; longer texts are truncated), ``add_special_tokens``
   (default True), ``append_eos`` (default False). Texts are encoded and scored by hf_select's scoring engine
   (:mod:`hf_select.scoring.encoding`, :func:`hf_select.scoring.engine.score_nll`, float32), so a row's loss here is
   exactly the ``perplexity`` selector's score of that row with the same model, tokenizer and options::

       metric.compute(predictions=texts, model=model, tokenizer=tok, prompts=prompts)

Returns ``{"loss", "perplexity", "num_examples", "num_tokens"}``; ``loss`` is the mean NLL in nats per token
(token-weighted with texts or ``weights``, else the plain mean of the per-example values), ``perplexity = exp(loss)``.
"""

import math

import datasets
import evaluate

_CITATION = """\
@misc{hf_select,
  title = {hf_select: compute-constrained data selection for LLM fine-tuning},
  year = {2026}
}
"""

_DESCRIPTION = "Mean negative log-likelihood (nats/token) and perplexity of a target set, from given per-example " \
               "losses or computed with a causal LM."

_KWARGS_DESCRIPTION = """
Args:
    predictions: per-example mean NLLs (floats) or texts (strings).
    weights: (floats mode) token counts per example for a token-weighted mean.
    model: (texts mode) a transformers causal LM.
    tokenizer: (texts mode) its tokenizer.
    prompts: (texts mode, optional) one prompt per text; a prefix of the text that is not scored.
    batch_size: (texts mode) examples per forward pass. Default 8.
    max_length: (texts mode) truncate texts to this many tokens. Default: no truncation.
    add_special_tokens: (texts mode) add the tokenizer's special tokens once (hf_select's encoding rule). Default True.
    append_eos: (texts mode) end each text with the EOS token once. Default False.
Returns:
    loss: mean NLL in nats per token.
    perplexity: exp(loss).
    num_examples: number of examples.
    num_tokens: scored tokens (texts mode or weights), else null.
Examples:
    >>> metric = evaluate.load("path/to/hf_select/metrics/target_loss")
    >>> metric.compute(predictions=[1.0, 3.0], weights=[3, 1])["loss"]
    1.5
"""

DEFAULT_BATCH_SIZE = 8


class TargetLoss(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("float64")}),
                datasets.Features({"predictions": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, weights=None, model=None, tokenizer=None, prompts=None,
                 batch_size=DEFAULT_BATCH_SIZE, max_length=None, add_special_tokens=True, append_eos=False):
        if len(predictions) == 0:
            raise ValueError("target_loss: predictions is empty.")
        if isinstance(predictions[0], str):
            if model is None or tokenizer is None:
                raise ValueError("target_loss: texts were given as predictions; also pass model=<causal LM> and "
                                 "tokenizer=<its tokenizer> (or pass per-example losses as floats).")
            total, tokens = _model_loss(predictions, model, tokenizer, prompts, batch_size, max_length,
                                        add_special_tokens, append_eos)
            if tokens == 0:
                raise ValueError("target_loss: no token was scored (are the prompts as long as the texts?).")
            loss = total / tokens
            return {"loss": loss, "perplexity": _exp(loss), "num_examples": len(predictions), "num_tokens": tokens}
        values = [float(p) for p in predictions]
        if any(math.isnan(v) for v in values):
            raise ValueError("target_loss: predictions contain NaN.")
        if weights is not None:
            if len(weights) != len(values):
                raise ValueError(f"target_loss: {len(weights)} weights for {len(values)} predictions.")
            w = [float(x) for x in weights]
            if any(x < 0 for x in w) or sum(w) <= 0:
                raise ValueError("target_loss: weights must be non-negative token counts with a positive sum.")
            loss = sum(v * x for v, x in zip(values, w)) / sum(w)
            n_tokens = int(sum(w))
        else:
            loss = sum(values) / len(values)
            n_tokens = None
        return {"loss": loss, "perplexity": _exp(loss), "num_examples": len(values), "num_tokens": n_tokens}


def _exp(x):
    return math.exp(x) if x < 700 else float("inf")


def _model_loss(texts, model, tokenizer, prompts, batch_size, max_length, add_special_tokens, append_eos):
    """(sum of token NLLs, number of scored tokens) of ``texts`` under ``model``, through hf_select's engine."""
    from hf_select.scoring.encoding import encode
    from hf_select.scoring.engine import NLLConfig, score_nll

    if prompts is not None and len(prompts) != len(texts):
        raise ValueError(f"target_loss: {len(prompts)} prompts for {len(texts)} texts.")
    if batch_size < 1:
        raise ValueError(f"target_loss: batch_size must be >= 1, got {batch_size}.")
    items = list(texts)
    if prompts is not None:
        items = []
        for i, (text, prompt) in enumerate(zip(texts, prompts)):
            prompt = prompt or ""
            if not text.startswith(prompt):
                raise ValueError(f"target_loss: prompts[{i}] is not a prefix of its text; pass the prompt as it "
                                 "appears at the start of the text.")
            items.append((prompt, text[len(prompt):]))
    examples = encode(items, tokenizer, completion_only=prompts is not None, max_length=max_length,
                      add_special_tokens=add_special_tokens, append_eos=append_eos)
    device = next(model.parameters()).device
    longest = max(1, int(examples.lengths.max()) if len(examples) else 1)
    config = NLLConfig(dtype="float32", batching="bucketed", max_tokens_per_batch=batch_size * longest,
                       device=str(device), show_progress=False)
    scores = score_nll(model, examples, config)
    return float(scores.sum_nll.sum()), int(scores.num_targets.sum())
