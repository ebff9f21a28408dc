"""The column-wise text views equal the row-by-row ones, and decline what they do not cover."""

import datasets
import pyarrow as pa
import pytest

from hf_select.data.arrow_views import arrow_text_view
from hf_select.data.formats import VIEWS, example_parts, text_view


def _m(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [_m("user", "Hi?"), _m("assistant", "Hello.")],
    [_m("system", "Be kind."), _m("user", "a"), _m("assistant", "b"), _m("user", "c"), _m("assistant", "d")],
    [_m("assistant", "no user turn"), _m("assistant", "at all")],
    [_m("user", "ends with the user")],
    [_m("system", "s"), _m("user", "ü ñ 漢字"), _m("user", "twice"), _m("assistant", "")],
]


def _row_by_row(rows, view):
    return [{"query": q, "completion": c, "full": p + c}[view] for q, p, c in example_parts(rows)]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("rows", [
    [{"messages": m, "id": str(i)} for i, m in enumerate(CONVERSATIONS)],
    [{"prompt": "2+2=", "completion": " 4"}, {"prompt": "", "completion": "x"}],
    [{"text": "plain"}, {"text": ""}],
], ids=["messages", "prompt_completion", "text"])
def test_equal_to_row_by_row(rows, view):
    ds = datasets.Dataset.from_list(rows)
    expected = _row_by_row(rows, view)
    assert arrow_text_view(ds, view) == expected
    assert arrow_text_view(ds.data.table, view) == expected
    # sliced and multi-chunk tables read the same rows
    table = pa.concat_tables([ds.data.table.slice(0, 2), ds.data.table.slice(2)])
    assert arrow_text_view(table, view) == expected
    assert arrow_text_view(table.slice(1), view) == expected[1:]
    assert text_view(table, view) == expected


def test_declines_what_it_does_not_cover():
    ds = datasets.Dataset.from_list([{"messages": CONVERSATIONS[0]}, {"messages": CONVERSATIONS[1]}])
    reordered = ds.select([1, 0])
    assert arrow_text_view(reordered, "full") is None  # an indices mapping
    assert text_view(reordered, "full") == text_view(ds, "full")[::-1]
    assert arrow_text_view(ds, "full", tokenizer=object()) is None
    assert arrow_text_view([{"messages": CONVERSATIONS[0]}], "full") is None
    nulls = pa.table({"messages": [[{"role": "user", "content": None}]]})
    assert arrow_text_view(nulls, "full") is None
    with pytest.raises(TypeError, match="'content' is None"):
        text_view(nulls, "full")  # the row-by-row path names the problem
    empty = pa.table({"messages": pa.array([[]], pa.list_(pa.struct([("role", pa.string()),
                                                                      ("content", pa.string())])))})
    assert arrow_text_view(empty, "full") is None
    with pytest.raises(ValueError, match="non-empty list"):
        text_view(empty, "full")
