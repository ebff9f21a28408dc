import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hf_select as hs  # noqa: E402


@pytest.fixture(scope="module")
def model_tok():
    from hf_select.testing import tiny_llama, toy_tokenizer

    return tiny_llama(vocab_size=128, seed=0), toy_tokenizer()


def loss(model, ids, n_context):
    ids = torch.tensor([ids])
    labels = ids.clone()
    labels[0, :n_context] = -100
    with torch.no_grad():
        return model(ids, labels=labels).loss.item()


def test_ifd_equals_ratio_of_reference_losses_on_the_same_answer_tokens(model_tok):
    """s(A|Q) and s(A) score the same answer tokens; s(A) has Cherry-LLM's "### Response:" as unscored context.

    The toy tokenizer adds no BOS: the first answer token used to be skipped by s(A) (token 0 of an answer-only text is
    never scored) while s(A|Q) scored it (issue 11, bug 2).
    """
    model, tok = model_tok
    assert tok("ab")["input_ids"] == [ord("a"), ord("b")]  # no BOS added
    rows = [{"prompt": "Repeat: abc\n", "completion": "abc abc"}, {"prompt": "Q: 1+1?\n", "completion": "two, I think"}]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False)
    got = sel.score(rows)
    prefix = tok("### Response:")["input_ids"]
    expected = []
    for r in rows:
        p, c = tok(r["prompt"])["input_ids"], tok(r["completion"])["input_ids"]
        expected.append(loss(model, p + c, len(p)) / loss(model, prefix + c, len(prefix)))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    stages = {s.name: s.detail for s in sel.last_cost.stages}
    n_answer = sum(len(r["completion"]) for r in rows)
    assert stages["forward_conditioned"]["scored_tokens"] == stages["forward_answer"]["scored_tokens"] == n_answer


def test_ifd_drops_rows_above_one(model_tok):
    model, tok = model_tok
    rows = [{"prompt": f"P{i}: " + "zq" * i, "completion": "answer text " * (1 + i % 3)} for i in range(6)]
    raw = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False).score(rows)
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False)
    dropped = sel.score(rows)
    assert np.all(dropped[raw > 1] == -1.0) and np.all(dropped[raw <= 1] == raw[raw <= 1])
    assert sel.last_cost.notes["num_ifd_above_one"] == int((raw > 1).sum())


def test_ifd_empty_answer_and_plain_text(model_tok):
    model, tok = model_tok
    rows = [{"prompt": "Q\n", "completion": ""}, {"prompt": "Q2\n", "completion": "fine answer"}]
    with pytest.raises(ValueError, match="rows \\[0\\]"):
        hs.get_selector("ifd", model=model, tokenizer=tok, show_progress=False).score(rows)
    s = hs.get_selector("ifd", model=model, tokenizer=tok, show_progress=False, on_empty="lowest").score(rows)
    assert s[0] < s[1]


def bos_tokenizer():
    """The toy byte-level tokenizer, but adding a BOS token (id 2) in front of every text."""
    from hf_select.testing import toy_tokenizer

    return toy_tokenizer(add_bos=True)


def test_ifd_with_a_bos_tokenizer_scores_the_same_answer_tokens(model_tok):
    model, _ = model_tok
    tok = bos_tokenizer()
    assert tok("ab")["input_ids"] == [2, ord("a"), ord("b")]
    rows = [{"prompt": "Repeat: abc\n", "completion": "abc abc"}, {"prompt": "Say: hi\n", "completion": "hi"}]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False, answer_prefix="A:")
    got = sel.score(rows)
    expected = []
    for r in rows:
        p, c = tok(r["prompt"])["input_ids"], [ord(ch) for ch in r["completion"]]
        prefix = tok("A:")["input_ids"]  # [BOS, 'A', ':']: the BOS is context of s(A) too
        expected.append(loss(model, p + c, len(p)) / loss(model, prefix + c, len(prefix)))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_answer_that_does_not_fit_after_the_prefix_is_cut_in_both_passes(model_tok):
    model, tok = model_tok
    rows = [{"prompt": "Q\n", "completion": "abcdefghij"}]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False, max_length=8, answer_prefix="#####")
    got = sel.score(rows)
    p, c, prefix = tok("Q\n")["input_ids"], tok("abcdefghij")["input_ids"], tok("#####")["input_ids"]
    # conditioned text cut at 8 tokens keeps 6 answer tokens; only 3 fit after the 5-token prefix: both score those 3
    expected = loss(model, p + c[:3], len(p)) / loss(model, prefix + c[:3], len(prefix))
    np.testing.assert_allclose(got, [expected], rtol=1e-4)
    stages = {s.name: s.detail for s in sel.last_cost.stages}
    assert stages["forward_conditioned"]["scored_tokens"] == stages["forward_answer"]["scored_tokens"] == 3
    with pytest.raises(ValueError, match="no token to score"):  # a prefix as long as max_length leaves no answer
        hs.get_selector("ifd", model=model, tokenizer=tok, show_progress=False, max_length=5,
                        answer_prefix="#####").score(rows)


def test_estimate_cost_matches_the_measured_passes(model_tok):
    model, tok = model_tok
    rows = [{"prompt": "Repeat: abc\n", "completion": "abc abc"}, {"prompt": "Q\n", "completion": "x"}]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False)
    estimate = {s.name: s for s in sel.estimate_cost(rows).stages}
    sel.score(rows)
    for stage in sel.last_cost.stages:
        if stage.name.startswith("forward_"):
            assert estimate[stage.name].flops == pytest.approx(stage.flops) and stage.flops > 0
            assert estimate[stage.name].tokens == stage.tokens
