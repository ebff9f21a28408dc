import json

import numpy as np
import pytest

from hf_select.cost.budget import budget_to_k, dataset_lengths
from hf_select.cost.flops import count_params_from_config, train_flops
from hf_select.cost.record import SelectionCost, StageCost

TINY = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
        "intermediate_size": 16, "vocab_size": 10, "tie_word_embeddings": True}


def cost(flops):
    return SelectionCost(stages=[StageCost("forward_pool", flops=flops)])


def test_mean_cost_hand_computed():
    # 6 * 1e6 * 100 = 6e8 FLOPs per example; 1e10 - 4e9 = 6e9 left -> 10 examples.
    assert budget_to_k(1e10, cost(4e9), train_model=1e6, lengths=[100] * 50) == (10, 6e9)
    # Two epochs halve k; the pool size caps it.
    assert budget_to_k(1e10, cost(4e9), train_model=1e6, lengths=[100] * 50, epochs=2) == (5, 6e9)
    assert budget_to_k(1e13, 0.0, train_model=1e6, lengths=[100] * 50) == (50, 50 * 6e8)
    # A mean length and a pool size instead of per-example lengths.
    assert budget_to_k(1e10, 4e9, train_model=1e6, tokens_per_example=100, n_examples=7) == (7, 7 * 6e8)


def test_order_prefix_uses_exact_lengths():
    lengths = np.array([10, 1000, 20, 30])
    per = 6 * 1e6 * lengths
    order = [0, 2, 3, 1]
    k, spent = budget_to_k(per[0] + per[2] + per[3] + 1.0, 0.0, train_model=1e6, lengths=lengths, order=order)
    assert (k, spent) == (3, float(per[0] + per[2] + per[3]))
    # With the long example first, the same budget cannot train it: the error names the minimum.
    with pytest.raises(ValueError, match="smallest workable budget is 6e\\+09"):
        budget_to_k(1e8, 0.0, train_model=1e6, lengths=lengths, order=[1, 0, 2, 3])


def test_detailed_convention_and_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    lengths = [3, 5, 8]
    per = [train_flops(TINY, [L], convention="detailed") for L in lengths]
    k, spent = budget_to_k(sum(per) + 1, 0.0, train_model=str(tmp_path), lengths=lengths, convention="detailed",
                           order=[0, 1, 2])
    assert (k, spent) == (3, pytest.approx(sum(per)))
    n = count_params_from_config(TINY)
    assert budget_to_k(6 * n * 4 * 10, 0.0, train_model=TINY, lengths=[4] * 20)[0] == 10


def test_dataset_lengths_from_input_ids_and_text():
    from datasets import Dataset

    ids = Dataset.from_dict({"input_ids": [[1, 2, 3], [4, 5]]})
    assert dataset_lengths(ids).tolist() == [3, 2]
    text = Dataset.from_list([{"prompt": "a" * 10, "completion": "b" * 9}, {"prompt": "c", "completion": "d"}])
    assert dataset_lengths(text).tolist() == [5, 1]  # ceil(19 / 4), at least 1
    assert dataset_lengths(text, chars_per_token=1.0).tolist() == [19, 2]
    k, spent = budget_to_k(6 * 1e6 * 6, 0.0, train_model=1e6, dataset=text)
    assert (k, spent) == (2, 6 * 1e6 * 6)


def test_errors_state_the_minimum_budget():
    with pytest.raises(ValueError, match="selection alone exceeds the budget.*smallest workable budget is 4\\.6e\\+09"):
        budget_to_k(1e9, cost(4e9), train_model=1e6, lengths=[100] * 5)
    with pytest.raises(ValueError, match="cannot train a single example"):
        budget_to_k(4.1e9, cost(4e9), train_model=1e6, lengths=[100] * 5)
    with pytest.raises(ValueError, match="budget_flops"):
        budget_to_k(-1.0, 0.0, train_model=1e6, lengths=[1])
    with pytest.raises(ValueError, match="train_model"):
        budget_to_k(1e9, 0.0, train_model=None, lengths=[1])
    with pytest.raises(ValueError, match="token counts"):
        budget_to_k(1e9, 0.0, train_model=1e6)
    with pytest.raises(ValueError, match="selection_cost"):
        budget_to_k(1e9, "lots", train_model=1e6, lengths=[1])


@pytest.mark.parametrize("convention", ["6N", "detailed"])
def test_lora_pricing_matches_brute_force(convention):
    from hf_select.cost.flops import lora_train_flops

    lengths = np.array([30, 5, 12, 40, 7, 22, 9, 16])
    order = np.array([3, 0, 5, 7, 2, 6, 4, 1])
    lora = 64
    budget = 2e6 + lora_train_flops(TINY, lengths[order[:5]], lora_params=lora, convention=convention)
    k, flops = budget_to_k(budget, cost(2e6), train_model=TINY, lengths=lengths, order=order, lora_params=lora,
                           convention=convention, train_convention="lora")
    brute = max(j for j in range(len(order) + 1)
                if 2e6 + lora_train_flops(TINY, lengths[order[:j]], lora_params=lora, convention=convention) <= budget)
    assert k == brute == 5
    assert flops == pytest.approx(lora_train_flops(TINY, lengths[order[:5]], lora_params=lora, convention=convention))
    full_k, _ = budget_to_k(budget, cost(2e6), train_model=TINY, lengths=lengths, order=order, convention=convention)
    assert full_k < k  # a frozen base is cheaper to train than full fine-tuning
    # The setting, not the presence of lora_params, decides: "full" prices 6N even with adapters (the paper's way).
    assert budget_to_k(budget, cost(2e6), train_model=TINY, lengths=lengths, order=order, lora_params=lora,
                       convention=convention)[0] == full_k


def test_lora_convention_needs_lora_params_and_a_known_name():
    with pytest.raises(ValueError, match="needs L: pass lora_params"):
        budget_to_k(1e9, 0.0, train_model=1e6, lengths=[4] * 3, train_convention="lora")
    with pytest.raises(ValueError, match="train_convention='6N' is not a training-FLOP convention"):
        budget_to_k(1e9, 0.0, train_model=1e6, lengths=[4] * 3, train_convention="6N")


def test_selection_config_rejects_bad_lora_params():
    from hf_select.config import SelectionConfig

    with pytest.raises(ValueError, match="train_lora_params"):
        SelectionConfig(budget_flops=1e12, train_model=1e6, train_lora_params=-1)
    with pytest.raises(ValueError, match="train_lora_params"):
        SelectionConfig(budget_flops=1e12, train_model=1e6, train_lora_params=1.5)
