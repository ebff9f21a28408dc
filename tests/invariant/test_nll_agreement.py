"""One NLL everywhere (issue 10): the perplexity selector's per-row NLL equals the target_loss metric's loss of
that row (its default score is -NLL, lowest perplexity first), and the NLLs inside IFD, CoLoR-Filter and LESS equal the scoring engine's on the same rows (fp32)."""

import os

import numpy as np
import pytest

from hf_select.testing import require

pytestmark = require("torch", "transformers", "evaluate")

TOL = 1e-5
CHAT_TEMPLATE = ("{% for m in messages %}<2>{{ m['role'] }}: {{ m['content'] }}<1>{% endfor %}"
                 "{% if add_generation_prompt %}<2>assistant: {% endif %}")
ROWS = {
    "text": [{"text": "The cat sat on the mat."}, {"text": "Dogs bark at night, loudly."}, {"text": "Hi there"}],
    "prompt_completion": [{"prompt": "Q: 2+2? ", "completion": "A: four."},
                          {"prompt": "Name a colour: ", "completion": "blue, like the sky"}],
    "messages": [{"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi!"}]},
                 {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count"},
                               {"role": "assistant", "content": "1 2 3"}]}],
}


@pytest.fixture(scope="module")
def setup():
    import evaluate

    import hf_select
    from hf_select.testing import tiny_llama, toy_tokenizer

    tok = toy_tokenizer(add_bos=True)
    tok.chat_template = CHAT_TEMPLATE  # writes the BOS itself: encoding must not add a second one
    metric = evaluate.load(os.path.join(os.path.dirname(hf_select.__file__), "metrics", "target_loss"))
    return tiny_llama(vocab_size=128, seed=0), tok, metric


@pytest.mark.parametrize("special", [True, False])
@pytest.mark.parametrize("completion_only", [False, True])
@pytest.mark.parametrize("kind", list(ROWS))
def test_perplexity_selector_equals_target_loss_metric(setup, kind, completion_only, special):
    import hf_select as hs
    from hf_select.data.formats import prompt_completion_texts

    model, tok, metric = setup
    rows = ROWS[kind]
    if completion_only and kind == "text":
        pytest.skip("plain text has no prompt")
    sel = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", completion_only=completion_only,
                          add_special_tokens=special, show_progress=False)
    scores = sel.score(rows)  # direction="low" (default): score = -NLL
    np.testing.assert_array_equal(scores, -sel.last_nll)
    high = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", completion_only=completion_only,
                           add_special_tokens=special, direction="high", show_progress=False).score(rows)
    # a second run: equal up to float32 rounding (CPU BLAS may round the last bit differently between runs, e.g. by
    # buffer alignment; a 1e-8 relative difference was seen once in a full parallel test run)
    np.testing.assert_allclose(high, sel.last_nll, rtol=1e-6, atol=0)
    for row, nll in zip(prompt_completion_texts(rows, tokenizer=tok), sel.last_nll):
        prompt, completion = row
        out = metric.compute(predictions=[prompt + completion], model=model, tokenizer=tok,
                             prompts=[prompt] if completion_only else None, add_special_tokens=special)
        assert abs(out["loss"] - nll) < TOL, (kind, row, out["loss"], nll)


def test_special_tokens_change_the_score(setup):
    """The knob is real: with a BOS-adding tokenizer the two conventions differ (the 0.07 nats of issue 10)."""
    import hf_select as hs

    model, tok, _ = setup
    rows = ROWS["text"]
    a = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", show_progress=False).score(rows)
    b = hs.get_selector("perplexity", model=model, tokenizer=tok, dtype="float32", add_special_tokens=False,
                        show_progress=False).score(rows)
    assert np.abs(a - b).max() > 1e-3


def _engine_mean_nll(model, items, tok, completion_only=False):
    from hf_select.scoring.encoding import encode
    from hf_select.scoring.engine import NLLConfig, score_nll

    examples = encode(items, tok, completion_only=completion_only)
    return score_nll(model, examples, NLLConfig(dtype="float32", batching="single", show_progress=False)).mean_nll


def test_ifd_conditioned_nll_equals_the_engine(setup):
    import hf_select as hs

    model, tok, _ = setup
    rows = ROWS["prompt_completion"]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", drop_above_one=False,
                          show_progress=False)
    sel.score(rows)
    pairs = [(r["prompt"], r["completion"]) for r in rows]
    np.testing.assert_allclose(sel.last_nll, _engine_mean_nll(model, pairs, tok, completion_only=True), atol=TOL)


def test_color_filter_prior_nll_equals_the_engine(setup):
    pytest.importorskip("peft")
    import hf_select as hs

    model, tok, _ = setup
    rows = ROWS["text"]
    sel = hs.get_selector("color_filter", model=model, tokenizer=tok, dtype="float32", finetune_epochs=1,
                          show_progress=False)
    sel.score(rows, target=["The cat sat."] * 2)
    np.testing.assert_allclose(sel.last_nll, _engine_mean_nll(model, [r["text"] for r in rows], tok), atol=TOL)


def test_less_loss_equals_the_engine(setup):
    """The loss LESS differentiates (warm-up and gradient features) is the engine's mean NLL of the same encoding."""
    pytest.importorskip("peft")
    import torch

    import hf_select as hs
    from hf_select.scoring.batching import collate
    from hf_select.scoring.engine import NLLConfig, score_nll
    from hf_select.scoring.gradients import per_example_losses

    model, tok, _ = setup
    sel = hs.get_selector("less", model=model, tokenizer=tok, dtype="float32", lora_r=2, lora_alpha=4,
                          show_progress=False)
    peft_model, tokenizer = sel._load()
    for kind, batching in (("prompt_completion", "padded"), ("prompt_completion", "packed"), ("messages", "packed")):
        examples = sel._encode(ROWS[kind], tokenizer)
        with torch.no_grad():
            less = per_example_losses(peft_model, collate(examples, range(len(examples)), batching)).numpy()
            engine = score_nll(peft_model, examples, NLLConfig(dtype="float32", batching="single",
                                                               show_progress=False)).mean_nll
            np.testing.assert_allclose(less, engine, atol=TOL)
