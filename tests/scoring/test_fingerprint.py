import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.fingerprint import model_fingerprint  # noqa: E402
from hf_select.testing import tiny_llama  # noqa: E402


def test_tiny_llama_deterministic_and_fingerprint(tmp_path):
    a, b, c = tiny_llama(vocab_size=64, seed=1), tiny_llama(vocab_size=64, seed=1), tiny_llama(vocab_size=64, seed=2)
    assert torch.equal(a.lm_head.weight, b.lm_head.weight)
    assert model_fingerprint(a) == model_fingerprint(b) != model_fingerprint(c)
    with torch.no_grad():
        b.model.layers[0].mlp.up_proj.weight[0, 0] += 1.0
    assert model_fingerprint(a) != model_fingerprint(b)
    assert tiny_llama().config.vocab_size == 49152
    a.save_pretrained(tmp_path)
    assert model_fingerprint(str(tmp_path)) == model_fingerprint(tmp_path)
    assert model_fingerprint("org/model") != model_fingerprint("org/other")  # a Hub id: its name
