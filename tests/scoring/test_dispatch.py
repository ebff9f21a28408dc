import pytest

torch = pytest.importorskip("torch")

from hf_select.import_utils import is_flash_attn_available  # noqa: E402
from hf_select.scoring.dispatch import DEFAULT_BATCHING, choose_plan, has_plain_lm_head  # noqa: E402


def test_cpu_defaults(tiny_model):
    plan = choose_plan(tiny_model, device="cpu")
    assert plan.device.type == "cpu"
    assert plan.attn_implementation == "sdpa"
    assert plan.batching == DEFAULT_BATCHING["cpu"]
    assert plan.nll_backend == "torch"
    assert set(plan.to_dict()["reasons"]) == {"attn", "batching", "nll"}


def test_overrides(tiny_model):
    plan = choose_plan(tiny_model, device="cpu", attn_implementation="eager", batching="packed", nll_backend="full")
    assert (plan.attn_implementation, plan.batching, plan.nll_backend) == ("eager", "packed", "full")
    with pytest.raises(ValueError, match="batching"):
        choose_plan(tiny_model, device="cpu", batching="fast")
    with pytest.raises(ValueError, match="nll_backend"):
        choose_plan(tiny_model, device="cpu", nll_backend="magic")


@pytest.mark.skipif(is_flash_attn_available(), reason="flash-attn usable here")
def test_flash_attention_without_cuda_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="flash-attn"):
        choose_plan(tiny_model, device="cpu", attn_implementation="flash_attention_2")


def test_non_plain_head_uses_full_logits():
    from hf_select.testing import tiny_llama

    model = tiny_llama(vocab_size=32)
    model.config.final_logit_softcapping = 30.0
    assert not has_plain_lm_head(model)
    assert choose_plan(model, device="cpu").nll_backend == "full"
    with pytest.raises(ValueError, match="plain linear"):
        choose_plan(model, device="cpu", nll_backend="torch")


def test_gradient_batching_auto_is_the_measured_default_per_device():
    from hf_select.scoring.dispatch import DEFAULT_GRADIENT_BATCHING, gradient_batching

    assert gradient_batching("auto", "cpu") == DEFAULT_GRADIENT_BATCHING["cpu"]
    assert gradient_batching("packed", "cpu") == "packed" and gradient_batching("padded", "cpu") == "padded"
    with pytest.raises(ValueError, match="batching='ragged'"):
        gradient_batching("ragged", "cpu")
