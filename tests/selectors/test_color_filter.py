import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

import hf_select as hs  # noqa: E402


@pytest.fixture(scope="module")
def model_tok():
    from hf_select.testing import tiny_llama, toy_tokenizer

    return tiny_llama(vocab_size=128, seed=0), toy_tokenizer()


def test_color_filter_prefers_target_like_rows_and_counts_cost(model_tok):
    model, tok = model_tok
    pool = ["abab abab", "zzqx yyvw", "abab ab", "qqqq rrrr"]
    sel = hs.get_selector("color_filter", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          finetune_epochs=3, finetune_learning_rate=1e-2)
    scores = sel.score(pool, target=["abab abab abab"] * 4)
    assert min(scores[0], scores[2]) > max(scores[1], scores[3])
    ppl = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", show_progress=False)
    ppl.score(pool)
    np.testing.assert_allclose(sel.last_nll, ppl.last_nll, atol=1e-6)  # score = prior NLL - conditional NLL
    stages = {s.name: s for s in sel.last_cost.stages}
    assert stages["finetune_target"].flops > 0 and stages["forward_conditional"].flops > 0


def test_color_filter_needs_target_and_epochs(model_tok):
    model, tok = model_tok
    with pytest.raises(ValueError, match="target"):
        hs.get_selector("color_filter", model=model, tokenizer=tok, show_progress=False).score(["a b"])
    with pytest.raises(ValueError, match="finetune_epochs"):
        hs.get_selector("color_filter", model=model, tokenizer=tok, show_progress=False,
                        finetune_epochs=0).score(["a b"], target=["a"])


def test_color_filter_estimate_matches_the_run(model_tok):
    model, tok = model_tok
    pool, target = ["abab abab", "zzqx yyvw"], ["abab ab abab", "ab ab"]
    sel = hs.get_selector("color_filter", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          finetune_epochs=2, finetune_lora_r=4)
    estimate = sel.estimate_cost(pool, target)
    sel.score(pool, target=target)
    measured = {s.name: s for s in sel.last_cost.stages}
    assert [s.name for s in estimate.stages] == ["forward_prior", "finetune_target", "forward_conditional"]
    for stage in estimate.stages:
        assert stage.flops == pytest.approx(measured[stage.name].flops) and stage.flops > 0, stage.name
    with pytest.raises(ValueError, match="target"):
        sel.estimate_cost(pool)
