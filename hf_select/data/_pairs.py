"""Instruction pairs from documented objects: question templates and the (question, answer) rows of one entry.

A question template is picked per (seed, source, part) with a stable hash, so the same build always asks the same
question, and questions vary across rows ("What does ...", "Explain ...", "What is the purpose of ...").
About half of the templates name the object by its short name plus its top-level package as a word
("... `DataFrame.pivot` in pandas?"), the others by the full dotted name.

Example:
    >>> from hf_select.data._doc_sources import DocEntry
    >>> from hf_select.data._pairs import PairOptions, entry_pairs
    >>> e = DocEntry("numpy", "numpy._core.fromnumeric.sum", "numpy.sum", "sum", "function",
    ...              "Sum of array elements over a given axis.\\n\\nParameters\\n----------\\na : array_like\\n"
    ...              "    Elements to sum, as an array or anything convertible to one.")
    >>> rows = entry_pairs(e, PairOptions(min_answer_chars=20))
    >>> [r["part"] for r in rows]
    ['summary', 'parameters']
    >>> rows[0]["answer"]
    'Sum of array elements over a given axis.'
    >>> "`numpy.sum`" in rows[0]["question"] or ("`sum`" in rows[0]["question"] and "numpy" in rows[0]["question"])
    True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ._doc_sources import DocEntry
from ._docstrings import clean_block, clean_summary, is_boilerplate, split_docstring

PARTS = ("summary", "parameters", "returns", "examples")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "function": (
        "What does `{name}` do?", "Explain what the function `{name}` does.",
        "What is the purpose of `{short}` in {top}?", "Describe `{name}`.", "In {top}, what is `{short}` used for?",
        "Give a short description of the {top} function `{short}`.",
    ),
    "method": (
        "What does the method `{name}` do?", "Explain `{name}`.",
        "What is the purpose of the `{short}` method in {top}?", "Describe what `{name}` does.",
        "In {top}, what happens when you call `{short}`?",
    ),
    "property": (
        "What does the `{name}` property return?", "Explain the attribute `{name}`.", "What is `{short}` in {top}?",
    ),
    "class": (
        "What is `{name}`?", "Explain the class `{name}`.", "What is the purpose of the `{short}` class in {top}?",
        "Describe `{name}`.", "What is the {top} class `{short}` used for?",
    ),
    "module": (
        "What is the `{name}` module for?", "Describe the module `{name}`.",
        "What does the {top} module `{name}` provide?", "Give an overview of `{name}`.",
    ),
    "topic": (
        "Explain {name} in Python.", "What does the Python language reference say about {name}?",
        "Describe {name} in Python.", "How does Python handle {name}?",
    ),
    "parameters": (
        "What parameters does `{name}` take?", "Explain the arguments of `{name}`.",
        "How do I call `{short}` in {top}? Describe its parameters.", "List and describe the inputs of `{name}`.",
    ),
    "returns": (
        "What does `{name}` return?", "What is the return value of `{short}` in {top}?",
        "Describe the output of `{name}`.",
    ),
    "examples": (
        "Show an example of using `{name}`.", "How is `{short}` used in {top}? Give an example.",
        "Give a short usage example for `{name}`.",
    ),
}


@dataclass(frozen=True)
class PairOptions:
    """Text knobs of pair making (mirrors fields of ``BuiltinPoolConfig``)."""

    parts: tuple[str, ...] = PARTS
    min_answer_chars: int = 40
    max_answer_chars: int = 600
    max_summary_paragraphs: int = 2
    min_alpha_ratio: float = 0.6
    min_code_alpha_ratio: float = 0.3
    seed: int = 0


def pick(options: tuple[str, ...], *key: object) -> str:
    """A deterministic choice among ``options`` from a stable hash of ``key`` (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(":".join(map(str, key)).encode(), digest_size=8).digest()
    return options[int.from_bytes(digest, "little") % len(options)]


def question(entry: DocEntry, part: str, seed: int) -> str:
    """The user turn asking about ``entry`` for one part (summary questions depend on the object kind)."""
    templates = TEMPLATES[entry.kind if part == "summary" else part]
    short = entry.qualname or entry.display
    top = entry.display.split(".", 1)[0]
    return pick(templates, seed, entry.source, part).format(name=entry.display, short=short, top=top)


def entry_pairs(entry: DocEntry, options: PairOptions) -> list[dict[str, str]]:
    """Rows ``{part, question, answer}`` for the parts of ``entry`` that pass the quality filters."""
    if entry.kind == "topic":
        parts = {"summary": entry.doc}
    else:
        parts = split_docstring(entry.doc)
    rows = []
    for part in options.parts:
        raw = parts.get(part, "")
        if not raw.strip():
            continue
        if part == "summary":
            answer = clean_summary(raw, max_paragraphs=options.max_summary_paragraphs,
                                   max_chars=options.max_answer_chars)
            ratio = options.min_alpha_ratio
        else:
            answer = clean_block(raw, max_chars=options.max_answer_chars)
            ratio = options.min_code_alpha_ratio if part == "examples" else options.min_alpha_ratio
        if is_boilerplate(answer, min_chars=options.min_answer_chars, min_alpha_ratio=ratio):
            continue
        rows.append({"part": part, "question": question(entry, part, options.seed), "answer": answer})
    return rows
