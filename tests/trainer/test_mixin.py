"""SelectionMixin on a second trainer class (plain transformers.Trainer) and the trainer registry."""

import json
import os

import pytest
from trainer_helpers import RecordingMixin

from hf_select import SelectionConfig
from hf_select.trainer import SelectionMixin, get_trainer, list_trainers, make_selective, register_trainer


def _pool(n=10):
    import datasets

    # pre-tokenized rows; the first token identifies the row, lengths differ
    return datasets.Dataset.from_list([{"input_ids": [2000 + i] + [7] * (3 + i), "text_len": 4 + i}
                                       for i in range(n)])


def _args(tmp_path, **kw):
    from transformers import TrainingArguments

    base = dict(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none", max_steps=2,
                per_device_train_batch_size=2, learning_rate=1e-3, save_strategy="no", disable_tqdm=True,
                remove_unused_columns=True)
    base.update(kw)
    return TrainingArguments(**base)


def test_mixin_on_plain_trainer(tmp_path, tokenizer, tiny_model):
    from transformers import DataCollatorForLanguageModeling, Trainer

    class RecordingTrainer(RecordingMixin, make_selective(Trainer)):
        pass

    import datasets

    texts = [f"row {i}: " + "word " * (i % 5 + 1) + "and more " * (i % 3) for i in range(10)]
    pool = datasets.Dataset.from_dict({"text": texts, "input_ids": [tokenizer(t)["input_ids"] for t in texts]})
    row_of = {tuple(ids): i for i, ids in enumerate(pool["input_ids"])}
    trainer = RecordingTrainer(model=tiny_model, args=_args(tmp_path), train_dataset=pool,
                               data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                               selector="length", selection=SelectionConfig(k=4, ordering="score"))
    assert isinstance(trainer, SelectionMixin) and isinstance(trainer, Trainer)
    # the length selector ranks the longest rows first (its default); score ordering trains in that order
    assert trainer.selection.k == 4
    trainer.train()
    seen = [row_of[tuple(ids)] for batch in trainer.recorded for ids in batch]
    assert seen == trainer.selection.indices.tolist()
    summary = json.load(open(os.path.join(tmp_path, "out", "hf_select_cost.json")))
    assert summary["num_selected"] == 4 and summary["train_examples"] == 4
    assert summary["train_tokens"] == sum(len(pool[i]["input_ids"]) for i in seen)


def test_unused_columns_kept_off_the_model(tmp_path, tokenizer, tiny_model):
    from transformers import DataCollatorForLanguageModeling

    trainer = get_trainer("trainer")(model=tiny_model, args=_args(tmp_path, remove_unused_columns=False, max_steps=1),
                                     train_dataset=_pool(6).remove_columns("text_len"),
                                     data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                                     selector="random", selection=SelectionConfig(k=2))
    assert "hf_select_row" not in trainer.train_dataset.column_names
    trainer.train()  # would fail if hf_select_row reached the model
    assert trainer.state.global_step == 1


def test_registry():
    from transformers import Trainer

    class MyTrainer(Trainer):
        pass

    made = register_trainer("mine", MyTrainer)
    assert issubclass(made, SelectionMixin) and issubclass(made, MyTrainer)
    assert get_trainer("mine") is made and "mine" in list_trainers()
    assert make_selective(made) is made

    @register_trainer("decorated")
    class Other(Trainer):
        pass

    assert issubclass(get_trainer("decorated"), SelectionMixin)
    with pytest.raises(ValueError, match="Unknown trainer"):
        get_trainer("nope")
    with pytest.raises(TypeError, match="Trainer subclass"):
        make_selective(int)
