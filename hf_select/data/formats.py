"""Text views of every TRL dataset format.

A selector sees each row through a *view*:

- ``"full"``: the whole example (prompt and completion, a conversation rendered as one text);
- ``"query"``: the query side only (the prompt, or the first user turn), as the paper's BM25 and embedding selectors use;
- ``"completion"``: the completion side only (the completion, or the assistant turns after the last user turn).

Formats (names follow TRL's dataset-format guide; content may be plain strings or conversational message lists):
``language_modeling`` (``text`` / ``messages``), ``prompt_only`` (``prompt``), ``prompt_completion``
(``prompt`` + ``completion``), ``preference`` (``chosen`` + ``rejected``, optional ``prompt``), ``unpaired_preference``
(``prompt`` + ``completion`` + ``label``) and ``stepwise`` (``prompt`` + ``completions`` + ``labels``). Real-world
schemas are read as conversations (see :mod:`hf_select.data.mapping`): ``alpaca`` (``instruction`` / ``input`` /
``output`` and its Dolly and question/answer cousins) and ``sharegpt`` (``conversations`` with ``from`` / ``value``).

Example:
    >>> from hf_select.data.formats import text_view, detect_format
    >>> rows = [{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}]
    >>> detect_format(rows)
    'conversational'
    >>> text_view(rows, "query")
    ['Hi?']
    >>> text_view([{"prompt": "2+2=", "completion": " 4"}], "full")
    ['2+2= 4']
    >>> alpaca = [{"instruction": "Sort", "input": "[3,1]", "output": "[1,3]"}]
    >>> detect_format(alpaca), "[1,3]" in text_view(alpaca, "completion")[0], text_view(alpaca, "query")[0].split()
    ('alpaca', True, ['Sort', '[3,1]'])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .mapping import SCHEMA_COLUMNS, SHAREGPT_COLUMN, alpaca_columns, alpaca_messages, sharegpt_messages
from .mapping import check_text

VIEWS = ("full", "query", "completion")
FORMATS = (
    "language_modeling",
    "conversational",
    "prompt_only",
    "prompt_completion",
    "preference",
    "unpaired_preference",
    "stepwise",
    "alpaca",
    "sharegpt",
)
_TEXT_FIELDS = ("text", "content", "instruction", "question", "input")
_CONVERSATIONS = {"conversational": None, "alpaca": alpaca_messages, "sharegpt": sharegpt_messages}


def _columns(data: Any) -> list[str]:
    if hasattr(data, "column_names"):
        return list(data.column_names)
    if isinstance(data, Mapping):
        return list(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        if len(data) == 0:
            return []
        if isinstance(data[0], Mapping):
            return list(data[0])
        return []
    raise TypeError(f"Expected a datasets.Dataset, a list of dicts or a list of strings, got {type(data).__name__}.")


def detect_format(data: Any, text_field: str | None = None) -> str:
    """Name the TRL format of ``data`` (a ``Dataset``, a list of row dicts, or a list of texts).

    Raises:
        ValueError: when no usable text column exists; the message lists the columns and the options.
    """
    if isinstance(data, Sequence) and not isinstance(data, str) and not hasattr(data, "column_names") \
            and len(data) > 0 and all(isinstance(x, str) for x in data):
        return "language_modeling"  # a plain list of texts
    return format_of_columns(_columns(data), text_field)


def format_of_columns(cols: Sequence[str], text_field: str | None = None) -> str:
    """The TRL format implied by a list of column names (see :func:`detect_format`)."""
    cols = list(cols)
    if text_field is not None:
        if text_field not in cols:
            raise ValueError(f"text_field={text_field!r} is not a column; the columns are {cols}.")
        return "language_modeling"
    colset = set(cols)
    if "messages" in colset:
        return "conversational"
    if SHAREGPT_COLUMN in colset and "prompt" not in colset:
        return "sharegpt"
    if {"chosen", "rejected"} <= colset:
        return "preference"
    if {"prompt", "completions", "labels"} <= colset:
        return "stepwise"
    if {"prompt", "completion", "label"} <= colset:
        return "unpaired_preference"
    if {"prompt", "completion"} <= colset:
        return "prompt_completion"
    if "prompt" in colset:
        return "prompt_only"
    if alpaca_columns(cols) is not None:
        return "alpaca"
    if "text" in colset:
        return "language_modeling"
    for name in _TEXT_FIELDS[1:]:
        if name in colset:
            others = [c for c in cols if c != name]
            if others:  # visible, never silent: the other columns may hold the answer
                warnings.warn(f"Reading column {name!r} as the whole text; the columns {others} are not read. If one "
                              f"holds the answer, map it, e.g. columns={{{name!r}: 'prompt', '<answer column>': "
                              "'completion'}} (CLI: --columns), or pass text_field=.", UserWarning, stacklevel=3)
            return "language_modeling"
    raise ValueError(
        f"Found no text to select on: the columns are {cols}. Use one of the TRL formats ('text', 'messages', "
        "'prompt'+'completion', 'prompt', 'chosen'+'rejected', ...), Alpaca ('instruction'/'input'/'output') or "
        "ShareGPT ('conversations'); or map your columns, e.g. columns={'question': 'prompt', 'answer': "
        "'completion'} (CLI: --columns question=prompt --columns answer=completion), or pass text_field='<column>'."
    )


def _text_column(cols: Sequence[str], text_field: str | None) -> str:
    if text_field is not None:
        return text_field
    for name in _TEXT_FIELDS:
        if name in cols:
            return name
    raise ValueError(f"No text column among {list(cols)}; pass text_field='<column>'.")


def _content(message: Any, row: int, column: str) -> str:
    content = message["content"]
    if isinstance(content, list):  # multimodal parts: keep the text ones
        return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping) and p.get("type", "text") == "text")
    return check_text(content, row, column)


def validate_messages(messages: Any, row: int, column: str = "messages") -> list[Mapping[str, Any]]:
    """Check a conversational value: a non-empty list of ``{"role": str, "content": str}`` dicts."""
    if not isinstance(messages, (list, tuple)) or len(messages) == 0:
        raise ValueError(
            f"Row {row}, column {column!r}: expected a non-empty list of {{'role', 'content'}} messages, "
            f"got {type(messages).__name__ if not isinstance(messages, (list, tuple)) else 'an empty list'}."
        )
    for j, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(
                f"Row {row}, column {column!r}, message {j}: each message needs 'role' and 'content' keys, got {m!r:.80}."
            )
        if not isinstance(m["role"], str):
            raise ValueError(f"Row {row}, column {column!r}, message {j}: 'role' must be a string.")
        if m["content"] is None:
            raise TypeError(f"Row {row}, column {column!r}, message {j}: 'content' is None.")
    return list(messages)


# The plain rendering of a turn without a chat template: ROLE_OPEN + role + ROLE_CLOSE + content + TURN_END (also
# built column-wise by hf_select.data.arrow_views).
ROLE_OPEN, ROLE_CLOSE, TURN_END = "<|", "|>\n", "\n"


def render_messages(messages: Sequence[Mapping[str, Any]], tokenizer: Any = None, *, row: int = 0,
                    column: str = "messages", add_generation_prompt: bool = False) -> str:
    """Render a conversation: the tokenizer's chat template when given, else ``<|role|>\\ncontent`` blocks."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        msgs = [{"role": m["role"], "content": _content(m, row, column)} for m in messages]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
    text = "".join(f"{ROLE_OPEN}{m['role']}{ROLE_CLOSE}{_content(m, row, column)}{TURN_END}" for m in messages)
    return text + (f"{ROLE_OPEN}assistant{ROLE_CLOSE}" if add_generation_prompt else "")


def _split_conversation(messages: list[Mapping[str, Any]]) -> int:
    """Index where the completion side starts: after the last user turn (or 0 when no user turn)."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    return last_user + 1


def _first_user(messages: list[Mapping[str, Any]], row: int, column: str) -> str:
    for m in messages:
        if m["role"] == "user":
            return _content(m, row, column)
    return _content(messages[0], row, column)


def _side(value: Any, row: int, column: str, tokenizer: Any, *, generation_prompt: bool = False) -> str:
    """A prompt/completion-like value: a string, or a list of messages rendered."""
    if isinstance(value, (list, tuple)):
        return render_messages(validate_messages(value, row, column), tokenizer, row=row, column=column,
                               add_generation_prompt=generation_prompt)
    return check_text(value, row, column)


def _pair(row: Mapping[str, Any], i: int, fmt: str, tokenizer: Any, text_field: str | None,
          cols: Sequence[str]) -> tuple[str, str, str]:
    """(query, prompt_part, completion_part) of one row."""
    if fmt in _CONVERSATIONS:
        msgs, column = _conversation(row, i, fmt)
        return _conversation_parts(msgs, i, column, tokenizer)
    if fmt == "language_modeling":
        col = _text_column(cols, text_field)
        text = check_text(row[col], i, col)
        return text, "", text
    prompt_val = row.get("prompt", "")
    prompt_val = "" if prompt_val is None and fmt == "preference" else prompt_val
    if isinstance(prompt_val, (list, tuple)):
        msgs = validate_messages(prompt_val, i, "prompt")
        query = _first_user(msgs, i, "prompt")
    else:
        query = check_text(prompt_val, i, "prompt")
    if fmt == "prompt_only":
        return query, _side(prompt_val, i, "prompt", tokenizer), ""
    if fmt in ("prompt_completion", "unpaired_preference"):
        completion_col = "completion"
    elif fmt == "preference":
        completion_col = "chosen"
    elif fmt == "stepwise":
        steps = row["completions"]
        if not isinstance(steps, (list, tuple)):
            raise ValueError(f"Row {i}, column 'completions': expected a list of strings.")
        completion = "\n".join(check_text(s, i, "completions") for s in steps)
        return query, _side(prompt_val, i, "prompt", tokenizer, generation_prompt=True), completion
    else:  # pragma: no cover - FORMATS is closed
        raise ValueError(f"Unknown format {fmt!r}; expected one of {FORMATS}.")
    prompt = _side(prompt_val, i, "prompt", tokenizer, generation_prompt=True) if prompt_val != "" else ""
    if not query and isinstance(row[completion_col], (list, tuple)):  # implicit-prompt preference
        query = _first_user(validate_messages(row[completion_col], i, completion_col), i, completion_col)
    return query, prompt, _side(row[completion_col], i, completion_col, tokenizer)


def _conversation(row: Mapping[str, Any], i: int, fmt: str) -> tuple[list[Mapping[str, Any]], str]:
    """The messages of a row in one of the conversation formats, and the column named in errors."""
    convert = _CONVERSATIONS[fmt]
    column = "messages" if convert is None else (SHAREGPT_COLUMN if fmt == "sharegpt" else "row")
    return validate_messages(row["messages"] if convert is None else convert(row, i), i, column), column


def _conversation_parts(msgs: list[Mapping[str, Any]], i: int, column: str, tokenizer: Any) -> tuple[str, str, str]:
    """(query, prompt, completion) of a conversation: the completion is what follows the last user turn."""
    split = _split_conversation(msgs)
    query = _first_user(msgs, i, column)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None) and 0 < split < len(msgs):
        full = render_messages(msgs, tokenizer, row=i, column=column)
        prompt = render_messages(msgs[:split], tokenizer, row=i, column=column, add_generation_prompt=True)
        if full.startswith(prompt):
            return query, prompt, full[len(prompt):]
        return query, "", full
    if split >= len(msgs):
        return query, render_messages(msgs, tokenizer, row=i, column=column), ""
    prompt = render_messages(msgs[:split], tokenizer, row=i, column=column, add_generation_prompt=False)
    completion = render_messages(msgs[split:], tokenizer, row=i, column=column)
    return query, prompt, completion


def _rows(data: Any, text_field: str | None) -> tuple[list[Mapping[str, Any]], list[str]]:
    if isinstance(data, Sequence) and not hasattr(data, "column_names") and (len(data) == 0 or isinstance(data[0], str)):
        return [{"text": t} for t in data], ["text"]
    cols = _columns(data)
    if hasattr(data, "column_names"):
        wanted = ("messages", "prompt", "completion", "chosen", "completions", "label", text_field, *_TEXT_FIELDS,
                  *SCHEMA_COLUMNS)
        needed = [c for c in dict.fromkeys(wanted) if c and c in cols]
        # One Arrow -> Python conversion per column (indexing a datasets Column decodes row by row: ~20x slower).
        table = data.select_columns(needed).with_format("arrow")[:] if needed else None
        columns = {c: table.column(c).to_pylist() for c in needed}
        n = len(data)
        return [{c: columns[c][i] for c in needed} for i in range(n)], cols
    return list(data), cols


def example_parts(data: Any, *, text_field: str | None = None, tokenizer: Any = None,
                  format: str = "auto") -> list[tuple[str, str, str]]:
    """``(query, prompt, completion)`` texts of each row; ``prompt + completion`` is the full example."""
    rows, cols = _rows(data, text_field)
    if not rows:
        return []
    fmt = format_of_columns(cols, text_field) if format == "auto" else format
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format={format!r} is not known; use 'auto' or one of {FORMATS}.")
    if fmt == "language_modeling" and text_field is None and "messages" in cols:
        fmt = "conversational"
    return [_pair(row, i, fmt, tokenizer, text_field, cols) for i, row in enumerate(rows)]


def text_view(data: Any, view: str = "full", *, text_field: str | None = None, tokenizer: Any = None,
              format: str = "auto") -> list[str]:
    """The text of each row under ``view`` (``"full"``, ``"query"`` or ``"completion"``).

    Args:
        data: a ``datasets.Dataset``, a ``pyarrow.Table``, a list of row dicts, or a list of strings. Clean Arrow
            data of the common formats is rendered column-wise (:mod:`hf_select.data.arrow_views`).
        view: which side of each example to return.
        text_field: column to read for language-modeling data (default: ``text``).
        tokenizer: when given, conversations are rendered with its chat template.
        format: a name from ``FORMATS`` to override auto-detection.
    """
    if view not in VIEWS:
        raise ValueError(f"view={view!r} is not known; use one of {VIEWS}.")
    from .arrow_views import arrow_table, arrow_text_view

    if format == "auto":
        fast = arrow_text_view(data, view, text_field=text_field, tokenizer=tokenizer)
        if fast is not None:
            return fast
    if type(data).__name__ == "Table" and arrow_table(data) is data:  # a pyarrow.Table the fast path declined
        import datasets

        data = datasets.Dataset(data)
    parts = example_parts(data, text_field=text_field, tokenizer=tokenizer, format=format)
    if view == "query":
        return [q for q, _, _ in parts]
    if view == "completion":
        return [c for _, _, c in parts]
    return [p + c for _, p, c in parts]


def prompt_completion_texts(data: Any, *, text_field: str | None = None, tokenizer: Any = None,
                            format: str = "auto") -> list[tuple[str, str]]:
    """``(prompt part, completion part)`` of each row, for completion-only losses; ``prompt == ""`` for plain text."""
    return [(p, c) for _, p, c in example_parts(data, text_field=text_field, tokenizer=tokenizer, format=format)]


def query_answer_texts(data: Any, *, text_field: str | None = None) -> list[tuple[str, str]]:
    """``(query, answer)`` of each row as plain text, without a chat template or role markers: the ``"query"`` view
    (the prompt, or the first user turn) and the answer (the completion / chosen side; for conversations the contents
    of the turns after the last user turn, joined by newlines). Plain-text rows give ``("", text)``.

    Example:
        >>> chat = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
        >>> query_answer_texts([{"messages": chat}])
        [('2+2?', '4')]
        >>> query_answer_texts([{"prompt": "Say hi.", "completion": " hi"}])
        [('Say hi.', ' hi')]
        >>> query_answer_texts([{"instruction": "Sort", "input": "[3,1]", "output": "[1,3]"}])[0][1]
        '[1,3]'
    """
    rows, cols = _rows(data, text_field)
    fmt = format_of_columns(cols, text_field) if rows else "language_modeling"
    if fmt == "language_modeling" and text_field is None and "messages" in cols:
        fmt = "conversational"
    out = []
    for i, row in enumerate(rows):
        query, _, answer = _pair(row, i, fmt, None, text_field, cols)
        msgs, column = None, "chosen" if fmt == "preference" else "completion"
        if fmt in _CONVERSATIONS:
            msgs, column = _conversation(row, i, fmt)
        elif isinstance(row.get(column), (list, tuple)) and fmt != "stepwise":
            msgs = validate_messages(row[column], i, column)
        if fmt == "language_modeling":
            query = ""
        elif msgs is not None:
            answer = "\n".join(_content(m, i, column) for m in msgs[_split_conversation(msgs):])
        out.append((query, answer))
    return out
