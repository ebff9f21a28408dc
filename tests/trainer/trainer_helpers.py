"""Helpers of the trainer tests (imported by name: tests/trainer is put on sys.path by its conftest)."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hf_select.import_utils import is_transformers_available, is_trl_available

if not (is_transformers_available() and is_trl_available()):
    pytest.skip("transformers and trl are needed for the trainer tests", allow_module_level=True)

import hf_select as hs  # noqa: E402
from hf_select.selectors.base import SelectorConfig  # noqa: E402

TEST_SELECTION_FLOPS = 1.0e12


def sft_config(tmp_path, **overrides):
    from trl import SFTConfig

    kwargs = dict(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none", max_steps=2,
                  per_device_train_batch_size=2, learning_rate=1e-3, logging_steps=1, save_strategy="no",
                  max_length=64, dataloader_num_workers=0, seed=0, disable_tqdm=True)
    kwargs.update(overrides)
    return SFTConfig(**kwargs)


def marker(i: int) -> str:
    return f"zq{i:03d}"


def pc_pool(n: int = 16):
    """Prompt/completion rows, each with a unique marker word in the completion."""
    import datasets

    topics = ["cats", "stocks", "rain", "python", "music", "bread", "chess", "rivers"]
    rows = [{"prompt": f"Tell me about {topics[i % len(topics)]} number {i}.",
             "completion": f" {marker(i)} is a note about {topics[i % len(topics)]}."} for i in range(n)]
    return datasets.Dataset.from_list(rows)


def seen_markers(tokenizer, batches, n: int):
    """Markers (row numbers) found in each recorded batch of input_ids."""
    out = []
    for batch in batches:
        rows = []
        for ids in batch:
            text = tokenizer.decode(ids)
            found = [i for i in range(n) if marker(i) in text]
            assert len(found) == 1, text
            rows.append(found[0])
        out.append(rows)
    return out


class RecordingMixin:
    """Records the real (unpadded) input_ids of every training micro-batch."""

    def training_step(self, model, inputs, *args, **kwargs):
        mask = inputs.get("attention_mask")
        ids = inputs["input_ids"]
        batch = []
        for r in range(ids.shape[0]):
            row = ids[r] if mask is None else ids[r][mask[r].bool()]
            batch.append(row.tolist())
        self.recorded = getattr(self, "recorded", []) + [batch]
        return super().training_step(model, inputs, *args, **kwargs)


@dataclass
class CostlyConfig(SelectorConfig):
    flops: float = field(default=TEST_SELECTION_FLOPS, metadata={"help": "FLOPs this test selector claims."})


@hs.register_selector("test_costly")
class CostlySelector(hs.Selector):
    """Scores by text length, claiming a fixed FLOP cost (analytic estimate = measured)."""

    config_class = CostlyConfig

    def _score(self, dataset, target):
        with self.cost.stage("fake_forward", flops=self.config.flops):
            return np.array([len(t) for t in self.texts(dataset)], dtype=float)

    def estimate_cost(self, dataset, target=None):
        cost = super().estimate_cost(dataset, target)
        cost.add_stage("fake_forward", flops=self.config.flops)
        return cost


@dataclass
class ModelLossConfig(SelectorConfig):
    model: Any = field(default=None, metadata={"help": "Causal LM scoring the rows."})
    tokenizer: Any = field(default=None, metadata={"help": "Its tokenizer."})


@hs.register_selector("test_model_loss")
class ModelLossSelector(hs.Selector):
    """Model-based test selector: score = mean token NLL under the model (hardest first); counts 2N per token."""

    config_class = ModelLossConfig
    uses_causal_lm = True

    def _score(self, dataset, target):
        import torch

        from hf_select.cost.flops import forward_flops

        model, tok = self.config.model, self.config.tokenizer
        texts = self.texts(dataset)
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        with self.cost.stage("forward_pool", flops=forward_flops(model.config, [len(x) for x in ids]),
                             tokens=sum(len(x) for x in ids)):
            out = []
            model.eval()
            with torch.no_grad():
                for x in ids:
                    t = torch.tensor([x])
                    out.append(float(model(input_ids=t, labels=t).loss))
        return np.array(out)
