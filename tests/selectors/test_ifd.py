import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hf_select as hs  # noqa: E402


@pytest.fixture(scope="module")
def model_tok():
    from hf_select.testing import tiny_llama
    from hf_select.testing import toy_tokenizer

    return tiny_llama(vocab_size=128, seed=0), toy_tokenizer()


def loss(model, ids, n_context):
    ids = torch.tensor([ids])
    labels = ids.clone()
    labels[0, :n_context] = -100
    with torch.no_grad():
        return model(ids, labels=labels).loss.item()


def test_ifd_equals_ratio_of_reference_losses(model_tok):
    model, tok = model_tok
    rows = [{"prompt": "Repeat: abc\n", "completion": "abc abc"}, {"prompt": "Q: 1+1?\n", "completion": "two, I think"}]
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False)
    got = sel.score(rows)
    expected = []
    for r in rows:
        p, c = tok(r["prompt"])["input_ids"], tok(r["completion"])["input_ids"]
        expected.append(loss(model, p + c, len(p)) / loss(model, c, 1))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_ifd_drops_rows_above_one(model_tok):
    model, tok = model_tok
    rows = [{"prompt": f"P{i}: " + "zq" * i, "completion": "answer text " * (1 + i % 3)} for i in range(6)]
    raw = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False,
                          drop_above_one=False).score(rows)
    sel = hs.get_selector("ifd", model=model, tokenizer=tok, dtype="float32", show_progress=False)
    dropped = sel.score(rows)
    assert np.all(dropped[raw >= 1] == -1.0) and np.all(dropped[raw < 1] == raw[raw < 1])
    assert sel.last_cost.notes["num_ifd_above_one"] == int((raw >= 1).sum())


def test_ifd_empty_answer_and_plain_text(model_tok):
    model, tok = model_tok
    rows = [{"prompt": "Q\n", "completion": ""}, {"prompt": "Q2\n", "completion": "fine answer"}]
    with pytest.raises(ValueError, match="rows \\[0\\]"):
        hs.get_selector("ifd", model=model, tokenizer=tok, show_progress=False).score(rows)
    s = hs.get_selector("ifd", model=model, tokenizer=tok, show_progress=False, on_empty="lowest").score(rows)
    assert s[0] < s[1]
