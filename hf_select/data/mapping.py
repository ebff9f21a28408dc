"""Real-world dataset schemas mapped onto TRL's formats, and explicit column mappings.

Most SFT data on the Hub is not in a TRL format. Two families are recognised by their columns and read as
conversations (so every view, ``full`` / ``query`` / ``completion``, sees the instruction *and* the answer):

- **Alpaca-style** instruction data (:data:`INSTRUCTION_COLUMNS` + optional :data:`INPUT_COLUMNS` + one of
  :data:`ANSWER_COLUMNS`; optional ``system`` and ``history``): Alpaca (``instruction`` / ``input`` / ``output``),
  Dolly (``instruction`` / ``context`` / ``response``), question/answer pairs (``question`` / ``answer``). The user turn
  is the instruction, then a blank line and the input when there is one; ``history`` holds earlier
  ``[user, assistant]`` pairs.
- **ShareGPT** (``conversations``: a list of ``{"from": ..., "value": ...}`` with roles ``human`` / ``gpt`` /
  ``system``, or ``user`` / ``assistant``; ``role`` / ``content`` keys are read too).

Anything else: rename columns to TRL names with :func:`map_columns` (``hs.select(..., columns={"q": "prompt",
"a": "completion"})``, CLI ``--columns q=prompt --columns a=completion``).

Example:
    >>> from hf_select.data.mapping import alpaca_messages, sharegpt_messages
    >>> alpaca_messages({"instruction": "Sort", "input": "[3,1]", "output": "[1,3]"}, 0)
    [{'role': 'user', 'content': 'Sort\\n\\n[3,1]'}, {'role': 'assistant', 'content': '[1,3]'}]
    >>> sharegpt_messages({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}, 0)
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello'}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INSTRUCTION_COLUMNS = ("instruction", "question", "query")
INPUT_COLUMNS = ("input", "context")
ANSWER_COLUMNS = ("output", "response", "answer")
SHAREGPT_COLUMN = "conversations"
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
                  "model": "assistant", "bard": "assistant", "system": "system", "tool": "tool",
                  "function": "tool", "observation": "tool"}
#: Column names of the TRL formats (what :func:`map_columns` may rename to).
TRL_COLUMNS = ("text", "messages", "prompt", "completion", "chosen", "rejected", "label", "completions", "labels")
#: Every column the schemas above read (so a reader can fetch only these).
SCHEMA_COLUMNS = (*INSTRUCTION_COLUMNS, *INPUT_COLUMNS, *ANSWER_COLUMNS, "system", "history", SHAREGPT_COLUMN)


def alpaca_columns(cols: Sequence[str]) -> tuple[str, str | None, str] | None:
    """``(instruction, input or None, answer)`` column names when ``cols`` look like Alpaca-style data, else None."""
    instruction = next((c for c in INSTRUCTION_COLUMNS if c in cols), None)
    answer = next((c for c in ANSWER_COLUMNS if c in cols), None)
    if instruction is None or answer is None:
        return None
    return instruction, next((c for c in INPUT_COLUMNS if c in cols), None), answer


def check_text(value: Any, row: int, column: str, *, optional: bool = False) -> str:
    """``value`` when it is a string (``""`` for ``None`` when ``optional``); else an error naming row and column."""
    if optional and value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is None:
        raise TypeError(f"Row {row}, column {column!r}: text is None. Drop or fill such rows first (dataset.filter).")
    raise TypeError(f"Row {row}, column {column!r}: expected a string, got {type(value).__name__}.")


def alpaca_messages(row: Mapping[str, Any], index: int) -> list[dict[str, str]]:
    """The conversation of one Alpaca-style row: [system], ``history`` turns, user (instruction + input), answer."""
    found = alpaca_columns(list(row))
    if found is None:
        raise ValueError(f"Row {index}: not Alpaca-style data (needs one of {INSTRUCTION_COLUMNS} and one of "
                         f"{ANSWER_COLUMNS}); the columns are {list(row)}.")
    instruction_col, input_col, answer_col = found
    user = check_text(row[instruction_col], index, instruction_col)
    extra = check_text(row.get(input_col), index, input_col, optional=True) if input_col else ""
    if extra.strip():
        user = f"{user}\n\n{extra}"
    messages: list[dict[str, str]] = []
    system = check_text(row.get("system"), index, "system", optional=True)
    if system.strip():
        messages.append({"role": "system", "content": system})
    for turn, pair in enumerate(row.get("history") or []):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"Row {index}, column 'history', turn {turn}: expected a [user, assistant] pair, got "
                             f"{pair!r:.80}.")
        messages += [{"role": "user", "content": check_text(pair[0], index, "history")},
                     {"role": "assistant", "content": check_text(pair[1], index, "history")}]
    messages += [{"role": "user", "content": user},
                 {"role": "assistant", "content": check_text(row[answer_col], index, answer_col)}]
    return messages


def sharegpt_messages(row: Mapping[str, Any], index: int) -> list[dict[str, str]]:
    """The conversation of one ShareGPT row (roles mapped by :data:`SHAREGPT_ROLES`)."""
    turns = row.get(SHAREGPT_COLUMN)
    if not isinstance(turns, (list, tuple)) or not turns:
        raise ValueError(f"Row {index}, column {SHAREGPT_COLUMN!r}: expected a non-empty list of "
                         "{'from', 'value'} turns.")
    messages = []
    for j, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise ValueError(f"Row {index}, column {SHAREGPT_COLUMN!r}, turn {j}: expected a dict, got {turn!r:.80}.")
        role = turn.get("from", turn.get("role"))
        content = turn.get("value", turn.get("content"))
        if role not in SHAREGPT_ROLES:
            raise ValueError(f"Row {index}, column {SHAREGPT_COLUMN!r}, turn {j}: unknown role {role!r}; ShareGPT "
                             f"roles are {sorted(SHAREGPT_ROLES)}. Map other schemas with columns=... or convert the "
                             "rows to TRL 'messages'.")
        messages.append({"role": SHAREGPT_ROLES[role], "content": check_text(content, index, SHAREGPT_COLUMN)})
    return messages


def check_column_map(columns: Any, available: Sequence[str], argument: str = "columns") -> dict[str, str]:
    """Validate a ``{existing column: TRL column}`` mapping against the columns ``available``; returns it."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in columns.items()):
        raise TypeError(f"{argument} must map column names to TRL column names, e.g. {{'question': 'prompt', "
                        f"'answer': 'completion'}}; got {columns!r:.120}.")
    available = list(available)
    missing = [k for k in columns if k not in available]
    if missing:
        raise ValueError(f"{argument}: {missing} {'is' if len(missing) == 1 else 'are'} not a column; the columns "
                         f"are {available}.")
    unknown = [v for v in columns.values() if v not in TRL_COLUMNS]
    if unknown:
        raise ValueError(f"{argument}: {unknown} {'is' if len(unknown) == 1 else 'are'} not a TRL column name; map "
                         f"to one of {list(TRL_COLUMNS)}.")
    kept = set(available) - set(columns)
    clash = sorted(v for v in set(columns.values()) if v in kept) + sorted(
        v for v in set(columns.values()) if list(columns.values()).count(v) > 1)
    if clash:
        raise ValueError(f"{argument}: more than one column would be called {clash[0]!r}; rename or drop the other "
                         "one first.")
    return dict(columns)


def map_columns(dataset: Any, columns: Mapping[str, str] | None, argument: str = "columns") -> Any:
    """``dataset`` with columns renamed by ``columns`` (``{existing: TRL name}``), checked first; rows unchanged."""
    mapping = check_column_map(columns, dataset.column_names, argument)
    return dataset.rename_columns(mapping) if mapping else dataset
