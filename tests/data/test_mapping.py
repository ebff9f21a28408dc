"""hf_select/data/mapping.py: explicit column mappings onto TRL names (API and CLI share it)."""

import datasets
import pytest

import hf_select as hs
from hf_select.data.mapping import check_column_map, map_columns

ROWS = [{"q": f"question {i}", "a": " cats" if i % 3 == 1 else f" dogs {i}", "id": i} for i in range(9)]


def test_map_columns_renames_and_keeps_rows():
    ds = datasets.Dataset.from_list(ROWS)
    mapped = map_columns(ds, {"q": "prompt", "a": "completion"})
    assert mapped.column_names == ["prompt", "completion", "id"] and mapped["completion"] == ds["a"]
    assert map_columns(ds, None) is ds and map_columns(ds, {}) is ds


@pytest.mark.parametrize("columns, exc, match", [
    ({"nope": "prompt"}, ValueError, r"\['nope'\] is not a column; the columns are \['q', 'a', 'id'\]"),
    ({"q": "question_text"}, ValueError, "not a TRL column name"),
    ({"q": "prompt", "a": "prompt"}, ValueError, "more than one column would be called 'prompt'"),
    ({"q": 1}, TypeError, "must map column names"),
    (["q", "prompt"], TypeError, "must map column names"),
])
def test_bad_mappings_are_clear_errors(columns, exc, match):
    with pytest.raises(exc, match=match):
        check_column_map(columns, ["q", "a", "id"])


def test_a_mapped_name_may_not_clash_with_a_kept_column():
    with pytest.raises(ValueError, match="'text'"):
        check_column_map({"q": "text"}, ["q", "text"])


def test_select_reads_through_the_mapping_and_returns_the_users_columns():
    res = hs.select(ROWS, "bm25", target=["cats"], k=3, text_view="full",
                    columns={"q": "prompt", "a": "completion"})
    assert sorted(res.indices.tolist()) == [1, 4, 7]
    assert res.config["columns"] == {"q": "prompt", "a": "completion"}
    assert res.to_dataset().column_names == ["q", "a", "id", "hf_select_score"]
    target = [{"ask": "tell me about cats"}]
    res2 = hs.select(ROWS, "bm25", target=target, k=3, text_view="full", columns={"q": "prompt", "a": "completion"},
                     target_columns={"ask": "text"})
    assert sorted(res2.indices.tolist()) == [1, 4, 7]
    with pytest.raises(ValueError, match="target columns"):
        hs.select(ROWS, "bm25", target=target, k=3, target_columns={"nope": "text"})
