"""The one LoRA trainer: schedule steps, per-epoch checkpoints with Adam state, exact resume, loss convention."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from hf_select.scoring.encoding import IGNORE_INDEX, TokenizedExamples  # noqa: E402
from hf_select.scoring.finetune import (  # noqa: E402
    LoraTrainingConfig,
    add_lora,
    lora_finetune,
    plan_steps,
    train_lora,
)
from hf_select.testing import tiny_causal_lm, tiny_llama  # noqa: E402

VOCAB = 48


def rows(n: int = 7, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``(ids, labels)`` of ``n`` random examples whose first 1-3 tokens are an unscored prompt."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ids = rng.integers(3, VOCAB, size=4 + i % 5).tolist()
        prompt = 1 + i % 3
        out.append((ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def encoded(pairs: list[tuple[list[int], list[int]]]) -> TokenizedExamples:
    return TokenizedExamples.from_ids([ids for ids, _ in pairs], labels=[labels for _, labels in pairs])


def examples(n: int = 7, seed: int = 0) -> TokenizedExamples:
    return encoded(rows(n, seed))


def adapters(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def fresh(config: LoraTrainingConfig):
    return add_lora(tiny_llama(vocab_size=VOCAB, seed=0), config)


def test_schedule_steps_are_transformers_linear_with_warmup():
    """Step s runs at lr * lambda(s) of transformers' linear schedule: 0 at step 0 (the old hand-written LESS schedule
    started at lr / warmup_steps, one step ahead)."""
    cfg = LoraTrainingConfig(epochs=2, learning_rate=1e-2, lr_scheduler_type="linear", warmup_ratio=0.25, batch_size=2)
    run = train_lora(fresh(cfg), examples(7), cfg, keep_checkpoints=True)
    total, warm = 8, math.ceil(0.25 * 8)  # 7 examples / 2 per step -> 4 steps per epoch
    expected = [1e-2 * (s / warm if s < warm else (total - s) / (total - warm)) for s in range(total)]
    assert run.epoch_steps == [4, 4] == plan_steps(7, cfg) and run.steps == total
    np.testing.assert_allclose(run.learning_rates, expected, rtol=1e-12, atol=0)
    assert run.learning_rates[0] == 0.0
    assert [ck.lr for ck in run.checkpoints] == pytest.approx([np.mean(expected[:4]), np.mean(expected[4:])])
    assert run.epoch_learning_rates == pytest.approx([ck.lr for ck in run.checkpoints])


def test_checkpoint_per_epoch_holds_weights_and_adam_state():
    cfg = LoraTrainingConfig(epochs=3, learning_rate=5e-3, batch_size=3, lora_r=4, lora_alpha=8)
    model = fresh(cfg)
    run = train_lora(model, examples(7), cfg, keep_checkpoints=True)
    assert [ck.epoch for ck in run.checkpoints] == [1, 2, 3] and [ck.step for ck in run.checkpoints] == [3, 6, 9]
    final = adapters(model)
    names = sorted(final)
    assert list(run.checkpoints[-1].weights) == names
    assert all(torch.equal(run.checkpoints[-1].weights[n], final[n]) for n in names)
    assert not torch.equal(run.checkpoints[0].weights[names[0]], run.checkpoints[1].weights[names[0]])
    for ck in run.checkpoints:
        assert len(ck.adam.exp_avg) == len(names) == len(ck.adam.exp_avg_sq)
        assert all(m.shape == final[n].shape for m, n in zip(ck.adam.exp_avg, names))
        assert all((v >= 0).all() for v in ck.adam.exp_avg_sq) and any(m.abs().sum() > 0 for m in ck.adam.exp_avg)
        assert (ck.adam.beta1, ck.adam.beta2, ck.adam.eps) == (cfg.adam_beta1, cfg.adam_beta2, cfg.adam_epsilon)


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run():
    """The checkpoint is the whole training state (adapters, Adam moments and step, schedule, dropout RNG)."""
    cfg = LoraTrainingConfig(epochs=3, learning_rate=1e-2, lr_scheduler_type="linear", warmup_ratio=0.2,
                             batch_size=3, lora_dropout=0.1)
    whole = fresh(cfg)
    run = train_lora(whole, examples(7), cfg, keep_checkpoints=True)
    resumed = fresh(cfg)
    rest = train_lora(resumed, examples(7), cfg, resume_from=run.checkpoints[0], keep_checkpoints=True)
    a, b = adapters(whole), adapters(resumed)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert rest.learning_rates == run.learning_rates[3:] and rest.losses == pytest.approx(run.losses[1:], abs=0)
    assert torch.equal(rest.checkpoints[-1].adam.exp_avg[0], run.checkpoints[-1].adam.exp_avg[0])


def test_loss_is_the_mean_of_per_example_mean_nll():
    """One step over all examples before any update: the logged loss is the mean of each example's mean NLL over its
    labelled tokens (the convention of LESS's and CCDS's Trainer runs: batch 1 per device, gradient accumulation)."""
    cfg = LoraTrainingConfig(epochs=1, learning_rate=1e-3, batch_size=8, micro_batch_size=3)
    pairs = rows(6)
    base = tiny_llama(vocab_size=VOCAB, seed=0)
    with torch.no_grad():  # transformers' own loss of each example (shifted labels, mean over labelled tokens)
        ref = [base(torch.tensor([ids]), labels=torch.tensor([labels])).loss.item() for ids, labels in pairs]
    run = train_lora(fresh(cfg), encoded(pairs), cfg)
    assert run.steps == 1 and run.losses[0] == pytest.approx(np.mean(ref), rel=1e-5)
    assert run.tokens == sum(len(ids) for ids, _ in pairs)


@pytest.mark.parametrize("change", [dict(micro_batch_size=1), dict(micro_batching="packed", micro_batch_tokens=64)])
def test_micro_batching_does_not_change_the_training(change):
    cfg = LoraTrainingConfig(epochs=2, learning_rate=1e-2, batch_size=4, micro_batch_size=4)
    ref_model, other_model = fresh(cfg), fresh(cfg)
    train_lora(ref_model, examples(7), cfg)
    other = LoraTrainingConfig(**{**cfg.to_dict(), **change})
    train_lora(other_model, examples(7), other)
    a, b = adapters(ref_model), adapters(other_model)
    assert all(torch.allclose(a[n], b[n], atol=1e-6) for n in a)


def test_examples_without_labels_are_skipped_and_counted():
    cfg = LoraTrainingConfig(epochs=1, batch_size=4)
    exs = encoded(rows(3) + [([5, 6, 7], [IGNORE_INDEX] * 3), ([5], [5])])
    run = train_lora(fresh(cfg), exs, cfg)
    assert run.skipped_examples == 2 and run.steps == 1
    with pytest.raises(ValueError, match="No example has a token to train on"):
        train_lora(fresh(cfg), exs.subset([3, 4]), cfg)
    with pytest.raises(TypeError, match="TokenizedExamples"):
        train_lora(fresh(cfg), rows(3), cfg)


def test_lora_finetune_leaves_the_model_untouched_and_improves_the_loss():
    model = tiny_llama(vocab_size=VOCAB, seed=0).to(torch.bfloat16)
    before = [p.detach().clone() for p in model.parameters()]
    tuned, run = lora_finetune(model, encoded(rows(4) * 2),
                               LoraTrainingConfig(epochs=4, learning_rate=2e-2, batch_size=4))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert next(tuned.parameters()).dtype == torch.bfloat16 and not hasattr(tuned, "peft_config")
    assert run.losses[-1] < run.losses[0] and run.lora_params > 0


def test_fractional_epochs_and_bad_recipes():
    cfg = LoraTrainingConfig(epochs=1.5, batch_size=2)
    assert plan_steps(8, cfg) == [4, 2]
    with pytest.raises(ValueError, match="epochs"):
        LoraTrainingConfig(epochs=0)
    with pytest.raises(ValueError, match="micro_batching"):
        LoraTrainingConfig(micro_batching="ragged")
    bad = LoraTrainingConfig(lr_scheduler_type="zigzag")
    with pytest.raises(ValueError, match="lr_scheduler_type='zigzag'"):
        train_lora(fresh(bad), examples(3), bad)


def test_packed_micro_batches_only_where_packing_is_exact(caplog):
    """micro_batching='packed' packs a Llama (allow-listed) and falls back to padded rows, with a logged reason, on
    OPT, whose packed rows leak across examples (hf_select.scoring.packing)."""
    cfg = LoraTrainingConfig(epochs=1, learning_rate=1e-2, batch_size=4, micro_batching="packed",
                             micro_batch_tokens=64, target_modules=["q_proj", "v_proj"])
    assert train_lora(fresh(cfg), examples(5), cfg).micro_batching == "packed"
    opt = add_lora(tiny_causal_lm("opt", vocab_size=VOCAB), cfg)
    with caplog.at_level("WARNING", logger="hf_select.scoring.finetune"):
        run = train_lora(opt, examples(5), cfg)
    assert run.micro_batching == "padded" and "leak" in caplog.text
    padded = add_lora(tiny_causal_lm("opt", vocab_size=VOCAB), LoraTrainingConfig(**{**cfg.to_dict(),
                                                                                   "micro_batching": "padded"}))
    train_lora(padded, examples(5), LoraTrainingConfig(**{**cfg.to_dict(), "micro_batching": "padded"}))
    a, b = adapters(opt), adapters(padded)
    assert all(torch.equal(a[n], b[n]) for n in a)  # the fallback is exactly the padded run


def test_the_loss_is_the_scoring_engines_nll():
    """The trainer's per-example loss is the engine's NLL (forward_token_nll) on the same encoded examples."""
    from hf_select.scoring.engine import NLLConfig, score_nll

    cfg = LoraTrainingConfig(epochs=1, learning_rate=1e-9, batch_size=16)
    exs = examples(6)
    base = tiny_llama(vocab_size=VOCAB, seed=0)
    scores = score_nll(base, exs, NLLConfig(dtype="float32", batching="single", show_progress=False))
    run = train_lora(fresh(cfg), exs, cfg)
    assert run.losses[0] == pytest.approx(float(np.mean(scores.sum_nll / scores.num_targets)), rel=1e-6)
