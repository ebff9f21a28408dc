"""Model-based selectors on a stream: scored shard by shard, the target-tuned model tuned once per run."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

import hf_select as hs

pytest.importorskip("torch")


def _selector(**kwargs):
    from hf_select.testing import tiny_llama, toy_tokenizer

    return hs.get_selector("perplexity", model=tiny_llama(vocab_size=128), tokenizer=toy_tokenizer(),
                           dtype="float32", show_progress=False, **kwargs)


def test_target_tuned_perplexity_streams_with_one_finetune(tmp_path):
    pytest.importorskip("peft")
    texts = [f"example {i}: " + "some words " * (i % 7 + 1) for i in range(40)]
    pool = datasets.Dataset.from_dict({"text": texts})
    target = ["some words about examples", "more words"]
    options = {"finetune_on_target": True, "finetune_epochs": 1, "batching": "bucketed"}
    expected = _selector(**options).score(pool, target=target)
    config = hs.streaming.StreamConfig(shard_size=15, cache_dir=str(tmp_path), show_progress=False)
    sel = _selector(**options)
    got = sel.score(pool.to_iterable_dataset(num_shards=2), target=target, stream_config=config)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    per_stage = sel.last_cost.stages[0].detail["stages"]
    assert per_stage["finetune_target"]["tokens"] > 0 and sel.session is None
    assert sel.last_cost.flops > 0
    tuned = [s for s in sel.last_cost.stages if s.name == "finetune_target"]
    assert not tuned  # shard costs are summed into the run's stage
    # rerun: every shard comes from the cache, nothing is tuned or scored again
    again = _selector(**options)
    np.testing.assert_array_equal(again.score(pool.to_iterable_dataset(), target=target, stream_config=config), got)
    assert again.last_cost.notes["resumed_shards"] == 3 and again.last_cost.flops == 0


def test_pool_dependent_options_refuse_streams(tmp_path):
    stream = datasets.Dataset.from_dict({"text": ["a b", "c d"]}).to_iterable_dataset()
    config = hs.streaming.StreamConfig(cache_dir=str(tmp_path), show_progress=False)
    with pytest.raises(TypeError, match="whole pool in memory"):
        _selector(on_empty="lowest").score(stream, stream_config=config)
