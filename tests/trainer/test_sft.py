"""SelectiveSFTTrainer: trains on exactly the selected rows, budget stop, re-selection, ordering, cost card, errors."""

import json
import os

import numpy as np
import pytest

from trainer_helpers import RecordingMixin, marker, pc_pool, seen_markers, sft_config

from hf_select import SelectionConfig
from hf_select.cost.flops import train_flops
from hf_select.trainer import SelectiveSFTTrainer, get_trainer


class RecordingSFT(RecordingMixin, SelectiveSFTTrainer):
    pass


def test_trains_on_exactly_the_selected_rows(tmp_path, tokenizer, tiny_model):
    pool = pc_pool(16)
    target = ["Tell me about cats and rain."]
    trainer = RecordingSFT(model=tiny_model, args=sft_config(tmp_path, max_steps=3), train_dataset=pool,
                           processing_class=tokenizer, selector="bm25",
                           selection=SelectionConfig(target=target, k=6))
    assert trainer.selection.k == 6 and trainer.train_dataset.num_rows == 6
    assert "hf_select_row" not in trainer.train_dataset.column_names
    trainer.train()
    seen = [r for batch in seen_markers(tokenizer, trainer.recorded, 16) for r in batch]
    assert sorted(seen) == sorted(trainer.selection.indices.tolist())  # one epoch: each selected row exactly once
    # bm25 on "cats and rain" prefers those topics
    topics = {0, 2, 8, 10}  # cats: 0, 8 ; rain: 2, 10
    assert topics <= set(seen)

    summary = json.load(open(os.path.join(tmp_path, "out", "hf_select_cost.json")))
    assert summary["num_selected"] == 6 and summary["pool_rows"] == 16 and summary["selector"] == "bm25"
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    expected = train_flops(tiny_model.config, lengths)
    assert summary["train_flops_measured"] == pytest.approx(expected)
    assert summary["train_flops_predicted"] == pytest.approx(expected)  # 3 steps x 2 rows = exactly one epoch
    assert summary["train_tokens"] == sum(lengths)
    logged = [h for h in trainer.state.log_history if "flops/train" in h]
    assert logged and logged[-1]["flops/total"] == pytest.approx(expected)
    readme = open(os.path.join(tmp_path, "out", "README.md")).read()
    assert "hf_select:cost:begin" in readme and "bm25" in readme


def test_score_ordering_is_priority_order(tmp_path, tokenizer, tiny_model):
    pool = pc_pool(12)
    trainer = RecordingSFT(model=tiny_model, args=sft_config(tmp_path, max_steps=3, shuffle_dataset=True),
                           train_dataset=pool, processing_class=tokenizer, selector="test_costly",
                           selection=SelectionConfig(k=6, ordering="score"))
    trainer.train()
    seen = [r for batch in seen_markers(tokenizer, trainer.recorded, 12) for r in batch]
    assert seen == trainer.selection.indices.tolist()


def test_budget_stop_at_the_right_step(tmp_path, tokenizer, tiny_model):
    import datasets

    # pre-tokenized rows of known, distinct lengths; the first token names the row
    lengths = [6 + 2 * i for i in range(10)]
    rows = [{"input_ids": [1000 + i] + [5] * (n - 1)} for i, n in enumerate(lengths)]
    pool = datasets.Dataset.from_list(rows)
    per_token = train_flops(tiny_model.config, 1)
    budget = per_token * 160.0  # the cheapest rows fit; training must stop once 160 real tokens are trained
    trainer = RecordingSFT(model=tiny_model, args=sft_config(tmp_path, max_steps=50),
                           train_dataset=pool, processing_class=tokenizer, selector="random",
                           selection=SelectionConfig(budget_flops=budget, seed=1, train_model=tiny_model.config))
    trainer.train()
    seen_lengths = [[lengths[ids[0] - 1000] for ids in batch] for batch in trainer.recorded]
    cumulative = np.cumsum([train_flops(tiny_model.config, b) for b in seen_lengths])
    expected_step = int(np.argmax(cumulative >= budget)) + 1
    assert cumulative[-1] >= budget and expected_step == len(seen_lengths)
    assert trainer.state.global_step == expected_step < 50
    cb = trainer._hs.flops
    assert cb.stopped_by_budget and cb.stop_step == expected_step
    assert cb.train_flops == pytest.approx(cumulative[-1])  # FLOP tally == formula on the known lengths
    assert os.path.isdir(os.path.join(tmp_path, "out", f"checkpoint-{expected_step}"))
    summary = json.load(open(os.path.join(tmp_path, "out", "hf_select_cost.json")))
    assert summary["stopped_by_budget"] and summary["budget_stop_step"] == expected_step


def test_reselection_changes_subset_and_adds_cost(tmp_path, tokenizer, tiny_model):
    pool = pc_pool(12)
    args = sft_config(tmp_path, max_steps=6, learning_rate=2e-2)
    trainer = RecordingSFT(model=tiny_model, args=args, train_dataset=pool, processing_class=tokenizer,
                           selector="test_model_loss",
                           selection=SelectionConfig(k=4, refresh=2, selector_kwargs={"tokenizer": tokenizer}))
    first = trainer.selection.indices.copy()
    first_cost = trainer.selection.cost.flops
    assert first_cost > 0
    trainer.train()
    history = trainer.selection_history
    assert len(history) == 3  # refreshed after steps 2 and 4 (not after the last step)
    assert any(set(h.indices.tolist()) != set(first.tolist()) for h in history[1:])
    cb = trainer._hs.flops
    assert cb.selection_flops == pytest.approx(sum(h.cost.flops for h in history))
    assert cb.selection_flops > first_cost
    # the last step's batch comes from the latest selection (one batch of prefetch lag is allowed)
    last = seen_markers(tokenizer, trainer.recorded[-1:], 12)[0]
    assert set(last) <= set(history[-1].indices.tolist())
    summary = trainer.cost_summary()
    assert summary.reselections == 2 and summary.selection_flops == pytest.approx(cb.selection_flops)


def test_no_selector_is_plain_sft(tmp_path, tokenizer, tiny_model):
    from trl import SFTTrainer

    pool = pc_pool(6)
    ours = SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path), train_dataset=pool,
                               processing_class=tokenizer)
    theirs = SFTTrainer(model=tiny_model, args=sft_config(tmp_path), train_dataset=pool, processing_class=tokenizer)
    assert ours.selection is None
    assert ours.train_dataset["input_ids"] == theirs.train_dataset["input_ids"]
    assert [type(c).__name__ for c in ours.callback_handler.callbacks] == \
        [type(c).__name__ for c in theirs.callback_handler.callbacks]
    assert get_trainer("sft") is SelectiveSFTTrainer


def test_bad_inputs(tmp_path, tokenizer, tiny_model):
    import datasets

    pool = pc_pool(8)
    base = dict(model=tiny_model, processing_class=tokenizer)
    with pytest.raises(ValueError, match="only one of k, fraction"):
        SelectionConfig(k=2, fraction=0.5)
    with pytest.raises(ValueError, match="needs target examples"):
        SelectiveSFTTrainer(args=sft_config(tmp_path), train_dataset=pool, selector="bm25",
                            selection=SelectionConfig(k=2), **base)
    stream = datasets.Dataset.from_list([{"text": "a"}, {"text": "b"}]).to_iterable_dataset()
    with pytest.raises(TypeError, match="streaming"):
        SelectiveSFTTrainer(args=sft_config(tmp_path), train_dataset=stream, selector="random",
                            selection=SelectionConfig(k=1), **base)
    with pytest.raises(ValueError, match="packing"):
        SelectiveSFTTrainer(args=sft_config(tmp_path, packing=True), train_dataset=pool, selector="random",
                            selection=SelectionConfig(k=2, ordering="score"), **base)
    with pytest.raises(ValueError, match="does not score with a causal LM"):
        SelectiveSFTTrainer(args=sft_config(tmp_path), train_dataset=pool, selector="random",
                            selection=SelectionConfig(k=2, refresh="epoch"), **base)
    with pytest.raises(ValueError, match="selection=SelectionConfig"):
        SelectiveSFTTrainer(args=sft_config(tmp_path), train_dataset=pool, selector="random", **base)
    with pytest.raises(ValueError, match=r"minimum budget is 1e\+12"):
        SelectiveSFTTrainer(args=sft_config(tmp_path), train_dataset=pool, selector="test_costly",
                            selection=SelectionConfig(budget_flops=1e9, train_model=tiny_model.config), **base)


def test_packing_with_shuffle_is_allowed(tmp_path, tokenizer, tiny_model):
    pool = pc_pool(8)
    trainer = SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path, packing=True, max_steps=1),
                                  train_dataset=pool, processing_class=tokenizer, selector="random",
                                  selection=SelectionConfig(k=4))
    trainer.train()
    assert trainer._hs.flops.train_tokens > 0


def test_marker_helper():
    assert marker(7) == "zq007"


def test_precomputed_selection_result(tmp_path, tokenizer, tiny_model):
    from hf_select import SelectionResult, select

    pool = pc_pool(10)
    res = select(pool, "random", k=4, seed=3)
    res.save(tmp_path / "sel")
    loaded = SelectionResult.load(tmp_path / "sel")
    trainer = RecordingSFT(model=tiny_model, args=sft_config(tmp_path, max_steps=2), train_dataset=pool,
                           processing_class=tokenizer, selection=loaded)
    trainer.train()
    seen = [r for batch in seen_markers(tokenizer, trainer.recorded, 10) for r in batch]
    assert sorted(seen) == sorted(res.indices.tolist())
    with pytest.raises(ValueError, match="scored 10 rows"):
        SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path), train_dataset=pc_pool(8),
                            processing_class=tokenizer, selection=loaded)


def test_budget_prices_lora_training_when_peft_is_used(tmp_path, tokenizer, tiny_model):
    import datasets
    from peft import LoraConfig

    from hf_select.cost.flops import lora_train_flops

    lengths = [6 + 2 * i for i in range(10)]
    pool = datasets.Dataset.from_list([{"input_ids": [1000 + i] + [5] * (n - 1)} for i, n in enumerate(lengths)])
    budget = train_flops(tiny_model.config, [80])  # full fine-tuning could train 80 tokens
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = SelectiveSFTTrainer(model=tiny_model, args=sft_config(tmp_path, max_steps=1), train_dataset=pool,
                                  processing_class=tokenizer, peft_config=lora, selector="random",
                                  selection=SelectionConfig(budget_flops=budget, seed=1, train_convention="lora"))
    trained = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    res = trainer.selection
    assert res.config["train_convention"] == "lora" and trainer.cost_summary().train_convention == "lora"
    assert res.config["train_lora_params"] == trained > 0  # counted before peft wrapped the model
    chosen = [lengths[i] for i in res.indices]
    assert res.cost.train_flops == pytest.approx(lora_train_flops(tiny_model.config, chosen, lora_params=trained))
    assert res.cost.train_flops <= budget
    # the next row in priority order would not have fitted, and LoRA pricing keeps more tokens than 6N would
    order = np.argsort(-res.scores, kind="stable")
    if res.k < len(order):
        extra = lengths[order[res.k]]
        assert lora_train_flops(tiny_model.config, chosen + [extra], lora_params=trained) > budget
    assert sum(chosen) > 80

