"""A streamed selection goes to the Hub as parquet shards with its cost card (hf_select.streaming.write)."""

from __future__ import annotations

import numpy as np


def test_streamed_subset_pushes_like_an_in_memory_one(hub, write_token, repo_name, tmp_path):
    import datasets

    import hf_select as hs
    from hf_select.hub import load_selection
    from hf_select.streaming import StreamConfig, push_stream_selection, write_subset

    rows = [{"prompt": f"question {i} about {'cat' if i % 3 else 'the market'}", "completion": f"answer {i}"}
            for i in range(60)]
    for i in range(3):
        datasets.Dataset.from_list(rows[20 * i:20 * (i + 1)]).to_parquet(str(tmp_path / f"part-{i}.parquet"))
    pattern = str(tmp_path / "*.parquet")
    config = StreamConfig(shard_size=16, cache_dir=str(tmp_path / "cache"), rows_per_file=4, show_progress=False)
    res = hs.select(pattern, "bm25", target=["my cat purrs"], k=10, streaming=True, stream_config=config)
    files = write_subset(res, pattern, tmp_path / "subset", config=config)
    assert len(files) == 3  # 10 rows, 4 per file
    out = push_stream_selection(res, tmp_path / "subset", repo_name("stream"), token=write_token, plot=False)
    pushed = datasets.load_dataset(out.repo_id, split="train")
    in_memory = hs.select(rows, "bm25", target=["my cat purrs"], k=10)
    assert pushed.to_dict() == in_memory.to_dataset().to_dict()  # rows in priority order, no rank column
    _, loaded = load_selection(out.repo_id)
    np.testing.assert_array_equal(loaded.indices, in_memory.indices)
    assert loaded.provenance["stream"]["num_shards"] == 4
