"""SelectionResult (hf_select/result.py): saving never deletes a user's files; validated at every boundary."""

import json
import os

import datasets
import numpy as np
import pytest

import hf_select as hs
from hf_select.atomic import MARKER, OutputExistsError
from hf_select.cost.record import SelectionCost
from hf_select.result import SelectionError, SelectionResult

POOL = [f"row {i} " + "word " * (i % 7) for i in range(20)]


@pytest.fixture()
def res():
    return hs.select(datasets.Dataset.from_dict({"text": POOL}), "length", k=5)


def test_public_names_and_old_import_path():
    from hf_select.selection import SelectionResult as Old

    assert hs.SelectionResult is SelectionResult is Old


def test_save_into_a_users_folder_is_refused_and_deletes_nothing(res, tmp_path):
    # issue 9 item 1: res.save("../other") deleted notes.txt
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    for overwrite in (True, False):
        with pytest.raises(OutputExistsError, match="did not write"):
            res.save(other, overwrite=overwrite)
    assert os.listdir(other) == ["notes.txt"] and (other / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_save_into_the_working_directory_is_refused(res, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print(1)")
    with pytest.raises(OutputExistsError):
        res.save(".")
    assert os.listdir(tmp_path) == ["train.py"]


def test_save_again_replaces_an_earlier_save_like_save_pretrained(res, tmp_path):
    path = res.save(tmp_path / "sel")
    assert MARKER in os.listdir(path)
    other = hs.select(POOL, "random", k=3)
    other.save(path)  # default overwrite=True replaces the earlier hf_select output
    assert SelectionResult.load(path).k == 3
    with pytest.raises(OutputExistsError, match="overwrite"):
        res.save(path, overwrite=False)
    assert SelectionResult.load(path).k == 3
    assert sorted(os.listdir(tmp_path)) == ["sel"]


def test_failed_save_keeps_the_previous_output(res, tmp_path, monkeypatch):
    path = res.save(tmp_path / "sel")
    import pyarrow.parquet as pq

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(OSError, match="no space left"):
        res.save(path)
    monkeypatch.undo()
    assert SelectionResult.load(path).indices.tolist() == res.indices.tolist()
    assert sorted(os.listdir(tmp_path)) == ["sel"]


def _edit(path, **changes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if "indices" in changes:
        idx = np.asarray(changes["indices"], dtype=np.int64)
        pq.write_table(pa.table({"rank": np.arange(len(idx)), "index": idx}), os.path.join(path, "indices.parquet"))
    if "scores" in changes:
        pq.write_table(pa.table({"score": np.asarray(changes["scores"], dtype=float)}),
                       os.path.join(path, "scores.parquet"))
    if "k" in changes:
        meta = json.loads(open(os.path.join(path, "selection.json")).read())
        meta["k"] = changes["k"]
        open(os.path.join(path, "selection.json"), "w").write(json.dumps(meta))


@pytest.mark.parametrize("changes, match", [
    (dict(indices=[0, 1, 2, 3, -1]), "index -1, out of range"),
    (dict(indices=[0, 1, 2, 3, 20]), "index 20, out of range"),
    (dict(indices=[0, 1, 2, 2, 3]), "lists row 2 twice"),
    (dict(k=4), "k recorded with it is 4"),
    (dict(scores=[float("nan")] * 20), "20 of 20 scores are NaN"),
    (dict(scores=[1.0] * 19), "made on a pool of 20 rows"),
])
def test_load_rejects_an_edited_selection(res, tmp_path, changes, match):
    path = res.save(tmp_path / "sel")
    _edit(path, **changes)
    with pytest.raises(SelectionError, match=match):
        SelectionResult.load(path)


def test_load_names_a_damaged_file(res, tmp_path):
    path = res.save(tmp_path / "sel")
    open(os.path.join(path, "selection.json"), "w").write("{not json")
    with pytest.raises(SelectionError, match="damaged selection"):
        SelectionResult.load(path)


def test_chosen_rows_need_finite_scores():
    bad = SelectionResult(indices=[0, 1], scores=[1.0, -np.inf, 0.5], cost=SelectionCost())
    with pytest.raises(SelectionError, match="-inf"):
        bad.validate()
    with pytest.raises(SelectionError, match="must be integers"):
        SelectionResult(indices=[0.5], scores=[1.0], cost=SelectionCost())


def test_to_dataset_on_another_pool_of_the_same_length_raises(res):
    # issue 9 item 4: a different pool of the same length passed silently
    other = datasets.Dataset.from_dict({"text": [t.upper() for t in POOL]})
    with pytest.raises(SelectionError, match="fingerprint"):
        res.to_dataset(other)
    forced = res.to_dataset(other, ignore_fingerprint=True)
    assert forced["text"] == [POOL[i].upper() for i in res.indices]
    same = datasets.Dataset.from_dict({"text": list(POOL)})
    assert res.to_dataset(same)["text"] == res.to_dataset()["text"]
    with pytest.raises(SelectionError, match="has 3 rows"):
        res.to_dataset(POOL[:3])


def test_push_refuses_an_edited_selection_before_any_request(res, monkeypatch):
    pytest.importorskip("huggingface_hub")
    from hf_select.hub.push import push_selection

    res.indices = np.array([0, 1, 2, 3, -1])
    monkeypatch.setenv("HF_TOKEN", "hf_unused")
    with pytest.raises(SelectionError, match="index -1"):
        push_selection(res, "me/sel")
    res.indices = np.array([0, 1, 2, 3, 3])
    with pytest.raises(SelectionError, match="twice"):
        res.push_to_hub("me/sel")
