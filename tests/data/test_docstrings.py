"""Docstring parsing, cleaning and pair making behind the embedded pool (data._docstrings, _pairs, _doc_sources)."""

import textwrap

from hf_select.data._doc_sources import DocEntry, display_name, entries_from_file, stdlib_area
from hf_select.data._docstrings import clean_block, clean_summary, is_boilerplate, split_docstring
from hf_select.data._pairs import TEMPLATES, PairOptions, entry_pairs, question

NUMPYDOC = """Compute the thing.

Longer explanation that wraps
over two lines, see :func:`numpy.add`.

.. versionadded:: 1.2

Parameters
----------
x : int
    The input.

Returns
-------
out : int
    The output value.

Examples
--------
>>> thing(1)
2
"""

GOOGLE = """Load a dataset from the Hub.

Args:
    path (`str`):
        Name of the dataset.
    split (`str`, *optional*):
        Which split.

Returns:
    A `Dataset`.
"""

REST = """Open a file.

:param name: the file name
    to open.
:param mode: the mode.
:returns: a file object.
"""


def test_numpydoc_sections():
    parts = split_docstring(NUMPYDOC)
    assert clean_summary(parts["summary"], max_paragraphs=2, max_chars=500) == (
        "Compute the thing.\n\nLonger explanation that wraps over two lines, see `numpy.add`.")
    assert parts["parameters"] == "x : int\n    The input."
    assert parts["returns"].startswith("out : int")
    assert parts["examples"] == ">>> thing(1)\n2"


def test_google_and_rest_sections():
    parts = split_docstring(GOOGLE)
    assert parts["summary"] == "Load a dataset from the Hub."
    assert parts["parameters"].splitlines()[0] == "path (`str`):"
    assert "Which split." in parts["parameters"] and "Dataset" not in parts["parameters"]
    assert parts["returns"] == "A `Dataset`."
    rest = split_docstring(REST)
    assert rest["summary"] == "Open a file."
    assert rest["parameters"] == ":param name: the file name to open.\n:param mode: the mode."
    assert rest["returns"] == ":returns: a file object."


def test_cleaning_caps_and_filters():
    long = " ".join(["This sentence is long enough."] * 40)
    out = clean_summary(long, max_paragraphs=2, max_chars=100)
    assert len(out) <= 100 and out.endswith(".")
    assert len(clean_block("a : int\n" + "    words here\n" * 50, max_chars=80)) <= 80
    assert clean_summary("foo(a, b) -> int\n\nReturn a plus b, computed with care.", max_paragraphs=2,
                         max_chars=200) == "Return a plus b, computed with care."
    assert clean_summary("Evaluate the series.\n\nIt returns the value:", max_paragraphs=2,
                         max_chars=200) == "Evaluate the series."
    assert is_boilerplate("Return %(klass)s with the values of the other object.", min_chars=10, min_alpha_ratio=0.5)
    assert is_boilerplate("Initialize self.  See help(type(self)) for accurate signature.", min_chars=10,
                          min_alpha_ratio=0.5)
    assert is_boilerplate("short", min_chars=10, min_alpha_ratio=0.5)
    assert is_boilerplate("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", min_chars=10, min_alpha_ratio=0.5)
    assert not is_boilerplate("x : int\n        The input value.", min_chars=10, min_alpha_ratio=0.6)


def test_names_and_areas():
    assert display_name("numpy._core.fromnumeric", "sum") == "numpy.sum"
    assert display_name("pandas.core.frame", "DataFrame.pivot") == "pandas.core.frame.DataFrame.pivot"
    assert display_name("_pydecimal", "Decimal") == "_pydecimal.Decimal"
    assert stdlib_area("asyncio") == "stdlib.concurrency" and stdlib_area("not_a_module") == "stdlib.other"


def test_entries_from_file_skips_private_and_reads_add_newdoc(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(textwrap.dedent('''
        """Module doc that is long enough to keep."""
        from numpy._core.function_base import add_newdoc

        def public():
            """Public function doc."""

        def _private():
            """Private function doc."""

        class Thing:
            """A thing."""

            def method(self):
                """Method doc."""

            def _hidden(self):
                """Hidden doc."""

            @property
            def size(self):
                """Size doc."""

        if True:
            def conditional():
                """Conditional doc."""

        add_newdoc("pkg._core.multiarray", "array", """Create an array.""")
        add_newdoc("pkg._core.multiarray", "ndarray", ("T", """Transposed view."""))
    '''))
    found = {(e.display, e.kind) for e in entries_from_file(str(src), "pkg.mod", "pkg")}
    assert found == {
        ("pkg.mod", "module"), ("pkg.mod.public", "function"), ("pkg.mod.Thing", "class"),
        ("pkg.mod.Thing.method", "method"), ("pkg.mod.Thing.size", "property"), ("pkg.mod.conditional", "function"),
        ("pkg.array", "function"), ("pkg.ndarray.T", "function"),
    }


def test_pairs_use_templates_deterministically():
    entry = DocEntry("numpy", "numpy._core.fromnumeric.sum", "numpy.sum", "sum", "function", NUMPYDOC)
    rows = entry_pairs(entry, PairOptions(min_answer_chars=5))
    assert [r["part"] for r in rows] == ["summary", "parameters", "returns", "examples"]
    assert rows == entry_pairs(entry, PairOptions(min_answer_chars=5))
    assert all("`numpy.sum`" in r["question"] or "`sum`" in r["question"] for r in rows)
    asked = {question(DocEntry("numpy", f"numpy.f{i}", f"numpy.f{i}", f"f{i}", "function", "d"), "summary", 0)
             .replace(f"f{i}", "F") for i in range(60)}
    assert len(asked) == len(TEMPLATES["function"])  # every template gets used
    only_summary = entry_pairs(entry, PairOptions(parts=("summary",), min_answer_chars=5))
    assert [r["part"] for r in only_summary] == ["summary"]
