"""Text views computed column-wise on Arrow data: the fast path of :func:`hf_select.data.formats.text_view`.

The row-by-row path of :mod:`hf_select.data.formats` converts every row to Python dicts and renders it in Python
(~30 us per conversation). For the common, clean cases the same strings are built with Arrow compute kernels over
whole columns instead:

- ``language_modeling``: a string ``text`` column (or ``text_field``): every view is the text itself;
- ``prompt_completion``: string ``prompt`` and ``completion`` columns: ``query`` = prompt, ``full`` = prompt +
  completion;
- ``conversational``: a ``messages`` column of ``list<struct<role: string, content: string>>`` rendered without a
  tokenizer as ``<|role|>\\ncontent\\n`` blocks (``query``: the first user turn, else the first message;
  ``completion``: the turns after the last user turn).

Anything else (a tokenizer's chat template, other formats, nulls, empty conversations, multimodal content, other
types) returns ``None`` and the row-by-row path runs, so errors and rare shapes behave exactly as before. The strings
are identical to the row-by-row path's (tested).

Example:
    >>> import pyarrow as pa
    >>> table = pa.table({"messages": [[{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Yo."}]]})
    >>> arrow_text_view(table, "full"), arrow_text_view(table, "query")
    (['<|user|>\\nHi?\\n<|assistant|>\\nYo.\\n'], ['Hi?'])
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def arrow_table(data: Any) -> Any:
    """The Arrow table behind ``data`` (a ``pyarrow.Table`` or a ``datasets.Dataset`` without an indices mapping),
    else ``None``."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if type(data).__name__ == "Dataset" and getattr(data, "_indices", True) is None:
        table = getattr(getattr(data, "data", None), "table", None)
        return table if isinstance(table, pa.Table) else None
    return None


def _is_string(dtype: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _strings(table: Any, name: str) -> Any:
    """A string column without nulls as one ``large_string`` array, else ``None``."""
    import pyarrow as pa

    if name not in table.column_names:
        return None
    column = table.column(name)
    if not _is_string(column.type) or column.null_count:
        return None
    return column.combine_chunks().cast(pa.large_string())


def arrow_text_view(data: Any, view: str, *, text_field: str | None = None, tokenizer: Any = None) -> list[str] | None:
    """``text_view(data, view, text_field=..., tokenizer=...)`` computed on Arrow columns, or ``None`` when ``data`` is
    not a case this path covers (see the module docstring)."""
    if tokenizer is not None:
        return None
    table = arrow_table(data)
    if table is None or table.num_rows == 0:
        return None
    from .formats import format_of_columns

    cols = table.column_names
    with warnings.catch_warnings():  # the row-by-row path warns when it runs
        warnings.simplefilter("ignore")
        try:
            fmt = format_of_columns(cols, text_field)
        except ValueError:
            return None  # the row-by-row path raises its own error
    if fmt == "language_modeling" and text_field is None and "messages" in cols:
        fmt = "conversational"
    if fmt == "language_modeling":
        text = _strings(table, "text" if text_field is None else text_field)
        return None if text is None else text.to_pylist()
    if fmt == "prompt_completion":
        prompt, completion = _strings(table, "prompt"), _strings(table, "completion")
        if prompt is None or completion is None:
            return None
        if view == "query":
            return prompt.to_pylist()
        if view == "completion":
            return completion.to_pylist()
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.binary_join_element_wise(prompt, completion, pa.scalar("", pa.large_string())).to_pylist()
    if fmt == "conversational":
        return _conversation_view(table.column("messages"), view)
    return None


def _conversation_view(column: Any, view: str) -> list[str] | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_struct(kind.value_type):
        return None
    fields = {kind.value_type.field(i).name: kind.value_type.field(i).type for i in range(kind.value_type.num_fields)}
    if not (_is_string(fields.get("role")) and _is_string(fields.get("content"))) or column.null_count:
        return None
    lists = column.combine_chunks()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    if not len(lengths) or lengths.min() == 0:
        return None  # an empty conversation: the row-by-row path names the row
    messages = lists.flatten()
    if messages.null_count:
        return None
    role = messages.field("role").cast(pa.large_string())
    content = messages.field("content").cast(pa.large_string())
    if role.null_count or content.null_count:
        return None
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    ends = starts + lengths
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    users = np.flatnonzero(pc.equal(role, "user").to_numpy(zero_copy_only=False))
    if view == "query":
        first = starts.copy()  # no user turn: the first message
        rows, at = np.unique(owner[users], return_index=True)
        first[rows] = users[at]
        return content.take(pa.array(first)).to_pylist()
    from .formats import ROLE_CLOSE, ROLE_OPEN, TURN_END

    text = [pa.scalar(s, pa.large_string()) for s in (ROLE_OPEN, ROLE_CLOSE, TURN_END, "")]
    blocks = pc.binary_join_element_wise(text[0], role, text[1], content, text[2], text[3])
    if view == "completion":
        split = starts.copy()  # no user turn: every message is the completion
        rows, at = np.unique(owner[users][::-1], return_index=True)
        split[rows] = users[::-1][at] + 1
        keep = np.arange(len(owner), dtype=np.int64) >= split[owner]
        blocks = blocks.filter(pa.array(keep))
        lengths = ends - np.minimum(split, ends)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), blocks), text[3])
    return joined.to_pylist()
