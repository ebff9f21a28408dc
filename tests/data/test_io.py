"""hf_select/data/io.py: an unreadable input is one clear error naming the file (and the line); Hub ids as datasets."""

import json

import datasets
import pytest

from hf_select.data.io import DataFileError, as_dataset, is_hub_id


@pytest.mark.parametrize("name, content, match", [
    ("pool.jsonl", '{"text": "a"}\n{"text": "b"\n{"text": "c"}\n', r"pool.jsonl', line 2, column 13"),
    ("pool.jsonl", '{"text": "a"}\n"just a string"\n', r"line 2: expected a JSON object"),
    ("pool.jsonl", "", "is empty"),
    ("pool.jsonl", "\n\n", "is empty"),
    ("pool.json", "not json at all", r"pool.json', line 1, column 1"),
    ("pool.json", '[{"text": "a"},\n {"text": }]', r"line 2, column 11"),
    ("pool.csv", "a,b\n1,2\n3,4,5\n", r"not a well-formed CSV file .*line 3"),
    ("pool.csv", "", "is empty"),
    ("pool.parquet", "not parquet", "not a readable parquet file"),
    ("pool.txt", "", "is empty"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFileError, match=match) as err:
        as_dataset(str(path), "--dataset")
    assert str(err.value).startswith("--dataset: ") and "\n" not in str(err.value)


def test_good_files_still_load(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"row {i}"}) for i in range(3)) + "\n\n")
    assert as_dataset(str(path)).num_rows == 3


def test_missing_paths_and_made_up_hub_ids_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="no file or folder at 'missing.jsonl'"):
        as_dataset("missing.jsonl", "--dataset")  # a data file name is never taken for a Hub id
    with pytest.raises(FileNotFoundError, match="no file or folder"):
        as_dataset("./some/dir", "--dataset")
    with pytest.raises(DataFileError, match=r"'someone/made-up-dataset-xyz' is not a local file, and as a Hub "
                                            r"dataset it is not in the local cache while offline"):
        as_dataset("someone/made-up-dataset-xyz", "--dataset")


def test_cli_hub_id_offline_is_one_line(run_cli_in_process, tmp_path):
    code, err = run_cli_in_process(["select", "--dataset", "someone/made-up-dataset-xyz", "--selector", "length",
                                    "--k", "1", "--output", str(tmp_path / "o")])
    assert code == 2 and err.strip().count("\n") == 0 and "HF_HUB_OFFLINE=1" in err and "Traceback" not in err


@pytest.fixture()
def run_cli_in_process(capsys, monkeypatch):
    from hf_select.cli.main import main

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)

    def run(argv):
        code = main(argv)
        return code, capsys.readouterr().err

    return run


def test_rows_of_mixed_types_are_one_clear_error():
    with pytest.raises(TypeError, match="do not hold one type per column"):
        as_dataset([{"text": "a"}, {"text": 3}], "dataset")
    with pytest.raises(TypeError, match="do not hold one type per column"):
        as_dataset({"text": ["a", 3]}, "dataset")


@pytest.mark.parametrize("text, expected", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", True), ("gpt2", True), ("org/name", True),
    ("pool.jsonl", False), ("data/train.csv", False), ("./model", False), ("~/model", False), ("/abs/model", False),
    ("a/b/c", False), ("", False), (None, False), ("bad id with spaces", False),
])
def test_one_hub_id_rule_for_datasets_and_models(text, expected):
    """data.io.is_hub_id is the rule; scoring.loading takes a model argument as a Hub id by the same rule."""
    from hf_select.scoring import loading

    assert is_hub_id(text) is expected
    assert loading.is_hub_id is is_hub_id
