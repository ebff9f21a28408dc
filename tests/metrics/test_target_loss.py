"""The local target_loss evaluate module: loaded by path, matches a hand computation."""

import math
import os

import pytest

evaluate = pytest.importorskip("evaluate")

import hf_select  # noqa: E402
from hf_select.testing import require_transformers  # noqa: E402

METRIC_DIR = os.path.join(os.path.dirname(hf_select.__file__), "metrics", "target_loss")


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(METRIC_DIR)


def test_floats_mean_and_weighted(metric):
    out = metric.compute(predictions=[1.0, 3.0])
    assert out["loss"] == pytest.approx(2.0) and out["perplexity"] == pytest.approx(math.exp(2.0))
    assert out["num_examples"] == 2 and out["num_tokens"] is None
    out = metric.compute(predictions=[1.0, 3.0], weights=[3, 1])
    assert out["loss"] == pytest.approx(1.5) and out["num_tokens"] == 4
    with pytest.raises(ValueError, match="weights"):
        metric.compute(predictions=[1.0, 3.0], weights=[1])


def test_add_batch_accumulates(metric):
    metric.add_batch(predictions=[1.0])
    metric.add_batch(predictions=[2.0, 3.0])
    assert metric.compute()["loss"] == pytest.approx(2.0)


@require_transformers
def test_texts_with_model_match_manual(metric):
    import torch

    from hf_select.scoring.models import load_tokenizer, smollm2_local_path
    from hf_select.testing import tiny_llama

    try:
        tok = load_tokenizer(smollm2_local_path())
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(str(err))
    model = tiny_llama(seed=0)
    texts = ["The cat sat on the mat.", "Dogs bark at night, loudly and often.", "Hi"]
    prompts = ["The cat", "Dogs bark", ""]

    def manual(text, prompt):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:], dtype=torch.long), reduction="none")
        keep = nll[max(n_prompt - 1, 0):]
        return float(keep.sum()), len(keep)

    out = metric.compute(predictions=texts, model=model, tokenizer=tok, batch_size=2)
    sums = [manual(t, "") for t in texts]
    assert out["num_tokens"] == sum(n for _, n in sums)
    assert out["loss"] == pytest.approx(sum(s for s, _ in sums) / out["num_tokens"], rel=1e-4)

    out = metric.compute(predictions=texts, model=model, tokenizer=tok, prompts=prompts, batch_size=3)
    sums = [manual(t, p) for t, p in zip(texts, prompts)]
    assert out["num_tokens"] == sum(n for _, n in sums)
    assert out["loss"] == pytest.approx(sum(s for s, _ in sums) / out["num_tokens"], rel=1e-4)
    assert out["perplexity"] == pytest.approx(math.exp(out["loss"]), rel=1e-6)


def test_texts_without_model_is_clear(metric):
    with pytest.raises(ValueError, match="model="):
        metric.compute(predictions=["some text"])


@require_transformers
def test_prompt_must_prefix_its_text(metric):
    from hf_select.testing import tiny_llama, toy_tokenizer

    with pytest.raises(ValueError, match="prefix"):
        metric.compute(predictions=["hello world"], model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
                       prompts=["goodbye"])
