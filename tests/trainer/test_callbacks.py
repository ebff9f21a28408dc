"""FLOP tally from batch lengths, budget stop, the selection sampler, re-selection scheduling."""

import numpy as np
import pytest
import torch
from transformers import TrainerControl, TrainerState

from hf_select.cost.flops import train_flops
from hf_select.trainer.callbacks import FlopBudgetCallback, ReselectionCallback, SelectionSampler, batch_lengths


def test_batch_lengths_variants():
    assert batch_lengths({"input_ids": torch.zeros(2, 5), "attention_mask": torch.tensor([[1, 1, 1, 0, 0],
                                                                                          [1, 1, 1, 1, 1]])}) == [3, 5]
    # padding-free: one row, examples restart their positions
    assert batch_lengths({"input_ids": torch.zeros(1, 7), "position_ids": torch.tensor([[0, 1, 2, 0, 1, 0, 1]])}) \
        == [3, 2, 2]
    # packed rows with a mask: split by positions inside the real tokens only
    assert batch_lengths({"input_ids": torch.zeros(1, 6), "attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0]]),
                          "position_ids": torch.tensor([[0, 1, 0, 1, 0, 0]])}) == [2, 2]
    assert batch_lengths({"input_ids": torch.zeros(3, 4)}) == [4, 4, 4]


def test_budget_callback_stops_at_first_step_reaching_budget():
    n_params = 1000
    fn = lambda lengths: train_flops(n_params, lengths)  # noqa: E731
    per_step = [[10, 20], [30], [5, 5, 5]]
    budget = 1e5 + fn([10, 20]) + fn([30]) - 1.0  # reached during step 2
    cb = FlopBudgetCallback(fn, budget_flops=budget, selection_flops=1e5)
    state, control = TrainerState(), TrainerControl()
    for step, lengths in enumerate(per_step, start=1):
        cb.observe(lengths)
        state.global_step = step
        cb.on_step_end(None, state, control)
        if control.should_training_stop:
            break
    assert step == 2 and cb.stop_step == 2 and control.should_save
    assert cb.train_flops == pytest.approx(6 * n_params * 60)
    assert cb.train_tokens == 60 and cb.train_examples == 3
    assert cb.logs()["flops/total"] == pytest.approx(1e5 + 6 * n_params * 60)
    with pytest.raises(ValueError, match="positive"):
        FlopBudgetCallback(fn, budget_flops=0)


def test_sampler_shuffle_and_swap_mid_epoch():
    s = SelectionSampler([3, 5, 7, 9], shuffle=True, seed=0)
    first = list(s)
    assert sorted(first) == [3, 5, 7, 9]
    assert sorted(list(s)) == [3, 5, 7, 9]
    it = iter(s)
    a, _ = next(it), next(it)
    s.set_positions([a, 11, 12, 13])
    rest = list(it)
    assert len(rest) == 2 and set(rest) <= {11, 12, 13}  # unseen rows of the new selection first
    assert len(s) == 4 and s.version == 1 and len(s.history) == 2
    ordered = SelectionSampler([9, 1, 4], shuffle=False)
    assert list(ordered) == [9, 1, 4]
    with pytest.raises(ValueError):
        SelectionSampler([], shuffle=False)


def test_reselection_schedule():
    calls = []
    cb = ReselectionCallback(lambda: calls.append(1), every=3)
    state, control = TrainerState(), TrainerControl()
    state.max_steps = 9
    for step in range(1, 10):
        state.global_step = step
        cb.on_step_end(None, state, control)
    assert len(calls) == 2  # steps 3 and 6 (not 9, the last)
    ep = ReselectionCallback(lambda: calls.append(2), every="epoch")
    state.max_steps, state.global_step = 0, 4
    ep.on_epoch_end(None, state, control)
    assert calls[-1] == 2
    with pytest.raises(ValueError, match="refresh"):
        ReselectionCallback(lambda: None, every=0)
    assert np.isfinite(cb.calls)
