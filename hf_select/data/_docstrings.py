"""Turning one raw docstring into clean answer texts (summary, parameters, examples) for the embedded pool.

Understands the three docstring styles found in installed packages: numpydoc (``Parameters`` underlined with
dashes), Google (``Args:`` followed by an indented block) and reST field lists (``:param x:``). Pure string
processing: no imports of the documented packages.

Example:
    >>> from hf_select.data._docstrings import split_docstring, clean_summary
    >>> doc = '''Sum of array elements.
    ...
    ... Adds the elements of :func:`numpy.add` style
    ... inputs over an axis.
    ...
    ... Parameters
    ... ----------
    ... a : array_like
    ...     Elements to sum.
    ... '''
    >>> parts = split_docstring(doc)
    >>> clean_summary(parts["summary"], max_paragraphs=2, max_chars=200)
    'Sum of array elements.\\n\\nAdds the elements of `numpy.add` style inputs over an axis.'
    >>> parts["parameters"].splitlines()[0]
    'a : array_like'
"""

from __future__ import annotations

import re
import textwrap

# Section names mapped to the part they belong to; sections not listed end the summary and are dropped.
SECTION_PARTS = {
    "parameters": "parameters", "params": "parameters", "args": "parameters", "arguments": "parameters",
    "keyword arguments": "parameters", "kwargs": "parameters", "other parameters": "parameters",
    "attributes": None, "returns": "returns", "return": "returns", "yields": "returns", "raises": None, "warns": None,
    "see also": None, "notes": None, "note": None, "references": None, "examples": "examples", "example": "examples",
    "warning": None, "warnings": None, "methods": None, "todo": None, "usage": "examples", "example usage": "examples",
}
_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,}|~{3,}|\^{3,}|\*{3,})\s*$")
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]{1,30}):\s*$")
_FIELD_LINE = re.compile(r"^\s*:(param|parameter|arg|argument|key|keyword|type|raises?|returns?|rtype|yields?)\b")
_ELLIPSIS = " ..."
_FIELD_PARTS = {"param": "parameters", "parameter": "parameters", "arg": "parameters", "argument": "parameters",
                "key": "parameters", "keyword": "parameters", "returns": "returns", "return": "returns"}
_DIRECTIVE = re.compile(r"^\s*\.\. ")
_ROLE = re.compile(r":[a-zA-Z_:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_DOUBLE_BACKTICK = re.compile(r"``([^`]+)``")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_+")
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)\s*(->.*)?$|^\S+$")
_TEMPLATE = re.compile(r"%\([a-zA-Z_]+\)s|\{[a-zA-Z_]+\}|\$\{?[A-Z_]+\}?")
_BOILERPLATE = re.compile(
    r"auto-?generated|automatically generated|do not edit|copied from|alias for|deprecated alias|"
    r"see help\(type\(self\)\)|^(todo|fixme|xxx)\b|placeholder|^see (the )?(docstring|documentation) of",
    re.IGNORECASE,
)


def _header_at(lines: list[str], i: int) -> str | None:
    """The part name (key of SECTION_PARTS) of a section header starting at line ``i``, if any."""
    line = lines[i].strip()
    if not line:
        return None
    low = line.lower().rstrip(":").strip()
    if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and len(lines[i + 1].strip()) >= len(line) - 1:
        return low  # numpydoc / reST header (any title counts as a section break)
    m = _GOOGLE_HEADER.match(lines[i])
    if m and m.group(1).lower().strip() in SECTION_PARTS and not lines[i].startswith((" ", "\t")):
        return m.group(1).lower().strip()
    return None


def split_docstring(doc: str) -> dict[str, str]:
    """Split a cleaned docstring (``inspect.cleandoc`` form) into summary, parameters, returns and examples parts.

    The summary is everything before the first section header, reST field list, directive or doctest prompt. Each
    other part is the body of its first section (numpydoc or Google style); reST ``:param`` lines form the
    ``parameters`` part when no such section exists. Missing parts are empty strings.
    """
    lines = doc.expandtabs(4).splitlines()
    parts = {"summary": "", "parameters": "", "returns": "", "examples": ""}
    n = len(lines)
    i = 0
    summary: list[str] = []
    while i < n:
        if _header_at(lines, i) is not None or _FIELD_LINE.match(lines[i]) or _DIRECTIVE.match(lines[i]) \
                or lines[i].lstrip().startswith(">>>"):
            break
        summary.append(lines[i])
        i += 1
    parts["summary"] = "\n".join(summary).strip()
    fields: dict[str, list[str]] = {"parameters": [], "returns": []}
    while i < n:
        name = _header_at(lines, i)
        if name is None:
            m = _FIELD_LINE.match(lines[i])
            field = _FIELD_PARTS.get(m.group(1)) if m else None
            if field is not None:
                fields[field].append(lines[i].strip())
                j = i + 1
                while j < n and lines[j].startswith((" ", "\t")) and not _FIELD_LINE.match(lines[j]):
                    fields[field][-1] += " " + lines[j].strip()
                    j += 1
                i = j
                continue
            i += 1
            continue
        underlined = i + 1 < n and _UNDERLINE.match(lines[i + 1]) is not None
        j = i + (2 if underlined else 1)
        body: list[str] = []
        while j < n:
            if _header_at(lines, j) is not None:
                break
            if not underlined and lines[j].strip() and not lines[j].startswith((" ", "\t")):
                break  # a Google section ends when indentation returns to column 0
            body.append(lines[j])
            j += 1
        part = SECTION_PARTS.get(name)
        if part is not None and not parts[part]:
            parts[part] = textwrap.dedent("\n".join(body)).strip("\n")
        i = j
    for field, found in fields.items():
        if not parts[field] and found:
            parts[field] = "\n".join(found)
    return parts


def clean_inline(text: str) -> str:
    """Replace reST roles, links and double backticks by plain Markdown-style inline code."""
    text = _LINK.sub(r"\1", text)
    text = _ROLE.sub(lambda m: f"`{m.group(1).strip()}`", text)
    return _DOUBLE_BACKTICK.sub(r"`\1`", text)


def _is_structured(par: list[str]) -> bool:
    first = par[0].lstrip()
    return first.startswith(("-", "*", "+", ">>>", "|", "1.", "$ ")) or any(line.startswith("    ") for line in par)


def _truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars``: at a sentence end if one exists in the second half, else at a word."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = max(head.rfind(". "), head.rfind(".\n"))
    if cut >= max_chars // 2:
        return head[: cut + 1]
    head = text[: max_chars - len(_ELLIPSIS)]
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else head).rstrip() + _ELLIPSIS


def clean_summary(text: str, *, max_paragraphs: int, max_chars: int) -> str:
    """The first ``max_paragraphs`` paragraphs of a summary: prose lines unwrapped, lists kept, length capped."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    while paragraphs and len(paragraphs[0]) == 1 and _SIGNATURE.match(paragraphs[0][0].strip()):
        paragraphs.pop(0)  # a leading signature line or a bare name (``distutils.archive_util``)
    for i, par in enumerate(paragraphs[1:], 1):
        if len(par) == 1 and _SIGNATURE.match(par[0].strip()):
            paragraphs = paragraphs[:i]  # a later signature starts a new definition (pydoc topics)
            break
    paragraphs = paragraphs[:max_paragraphs]
    if len(paragraphs) > 1 and paragraphs[-1][-1].rstrip().endswith(":"):
        paragraphs.pop()  # a paragraph introducing a dropped block (formula, list, example)
    out: list[str] = []
    for par in paragraphs:
        block = "\n".join(par) if _is_structured(par) else " ".join(line.strip() for line in par)
        candidate = "\n\n".join(out + [clean_inline(block)])
        if out and len(candidate) > max_chars:
            break
        out.append(clean_inline(block))
    return _truncate("\n\n".join(out), max_chars).strip()


def clean_block(text: str, *, max_chars: int) -> str:
    """A structured part (parameters, examples): line breaks kept, inline markup cleaned, cut at a line boundary."""
    lines = [line for line in text.strip("\n").splitlines() if not _DIRECTIVE.match(line)]
    text = clean_inline(textwrap.dedent("\n".join(lines)).strip("\n"))
    if len(text) <= max_chars:
        return text.rstrip()
    head = text[:max_chars]
    cut = head.rfind("\n")
    return (head[:cut] if cut >= max_chars // 2 else _truncate(head, max_chars)).rstrip()


def is_boilerplate(text: str, *, min_chars: int, min_alpha_ratio: float) -> bool:
    """Whether an answer is too short, templated (``%(klass)s``, ``{klass}``), generated or mostly non-letters.

    The letter share is taken over non-space characters (indentation does not count against an answer).
    """
    stripped = text.strip()
    if len(stripped) < min_chars or _TEMPLATE.search(stripped) or _BOILERPLATE.search(stripped):
        return True
    visible = [ch for ch in stripped if not ch.isspace()]
    return sum(ch.isalpha() for ch in visible) < min_alpha_ratio * len(visible)


def dedupe_key(text: str) -> str:
    """Whitespace- and case-insensitive key used to drop repeated answers."""
    return " ".join(text.lower().split())
