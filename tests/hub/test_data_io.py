"""A pool given by Hub id (hf_select.data.io) works as datasets.load_dataset does: local cache first, offline respected.

Runs against the loopback Hub of tests/hub (no other host is reachable).
"""

import datasets
import pytest

from hf_select.data.io import DataFileError, as_dataset


def test_hub_id_loads_online_then_from_the_cache_offline(hub, write_token, repo_name, monkeypatch):
    import huggingface_hub.constants as constants

    repo = repo_name("pool")
    rows = {"prompt": [f"q{i}" for i in range(5)], "completion": [f" a{i}" for i in range(5)]}
    datasets.Dataset.from_dict(rows).push_to_hub(repo, token=write_token)
    online = as_dataset(repo, "--dataset")
    assert online.num_rows == 5 and online["prompt"] == rows["prompt"]
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cached = as_dataset(repo, "--dataset")  # served from the local datasets cache, no request needed
    assert cached["completion"] == rows["completion"]
    with pytest.raises(DataFileError, match="not in the local cache while offline"):
        as_dataset(repo_name("never-pushed"), "--dataset")


def test_unknown_hub_id_online_is_one_clear_error(hub, repo_name):
    with pytest.raises(DataFileError, match="neither a local file nor a Hub dataset"):
        as_dataset(repo_name("does-not-exist"), "--dataset")
