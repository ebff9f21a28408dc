"""Where the embedded pool's text comes from: docstrings read with ``ast`` (never imported) and ``pydoc_data`` topics.

Each source yields :class:`DocEntry` records (one documented object each) in a deterministic order: files sorted by
path, definitions in file order. Only public objects are kept: names starting with ``_`` are skipped, but private
*modules* are walked (``numpy._core.fromnumeric.sum`` is shown as ``numpy.sum``, the name it is exported under).

Example:
    >>> from hf_select.data._doc_sources import display_name, stdlib_area
    >>> display_name("scipy.linalg._decomp", "eig")
    'scipy.linalg.eig'
    >>> stdlib_area("json")
    'stdlib.internet'
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Directory names never walked (tests, vendored copies, build helpers).
SKIP_DIRS = frozenset({
    "tests", "test", "testing", "_vendor", "vendor", "vendored", "_vendored", "externals", "_externals", "benchmarks",
    "site-packages", "__pycache__", "idlelib", "lib2to3", "ensurepip", "turtledemo", "lib-dynload", "examples",
})
# File-name prefixes never read (test modules, conversion scripts, transformers' modular sources).
SKIP_FILE_PREFIXES = ("test_", "conftest", "setup", "convert_", "modular_")

# The standard library split into areas (top-level module -> area); modules not listed go to "stdlib.other".
STDLIB_AREAS: dict[str, tuple[str, ...]] = {
    "stdlib.text_data": (
        "string", "re", "difflib", "textwrap", "unicodedata", "stringprep", "codecs", "encodings", "datetime",
        "zoneinfo", "calendar", "collections", "_collections_abc", "heapq", "bisect", "array", "weakref", "types",
        "copy", "pprint", "reprlib", "enum", "graphlib", "numbers", "math", "decimal", "_pydecimal", "fractions",
        "random", "statistics", "itertools", "functools", "operator", "locale", "gettext", "struct", "_strptime",
        "colorsys", "secrets", "hashlib", "hmac",
    ),
    "stdlib.files": (
        "pathlib", "os", "posixpath", "ntpath", "genericpath", "fileinput", "stat", "filecmp", "tempfile", "glob",
        "fnmatch", "linecache", "shutil", "pickle", "pickletools", "copyreg", "shelve", "marshal", "dbm", "sqlite3",
        "zlib", "gzip", "bz2", "lzma", "zipfile", "tarfile", "csv", "configparser", "tomllib", "netrc", "plistlib",
        "io", "_pyio", "chunk", "wave", "aifc", "sunau", "imghdr", "sndhdr", "xdrlib", "uu", "_compression", "zipapp",
        "mailcap",
    ),
    "stdlib.internet": (
        "email", "json", "mailbox", "mimetypes", "base64", "binascii", "quopri", "html", "xml", "urllib", "http",
        "ftplib", "poplib", "imaplib", "smtplib", "smtpd", "nntplib", "telnetlib", "uuid", "socketserver", "xmlrpc",
        "ipaddress", "socket", "ssl", "select", "selectors", "wsgiref", "cgi", "cgitb", "webbrowser", "asynchat",
        "asyncore", "_markupbase", "nturl2path",
    ),
    "stdlib.concurrency": (
        "asyncio", "threading", "_threading_local", "multiprocessing", "concurrent", "subprocess", "sched", "queue",
        "contextvars", "signal", "pty", "pipes", "_bootsubprocess",
    ),
    "stdlib.devtools": (
        "typing", "pydoc", "doctest", "unittest", "pdb", "bdb", "trace", "tracemalloc", "timeit", "cProfile",
        "profile", "pstats", "inspect", "dis", "ast", "symtable", "tokenize", "token", "keyword", "importlib", "imp",
        "pkgutil", "zipimport", "modulefinder", "runpy", "compileall", "py_compile", "pyclbr", "traceback",
        "warnings", "dataclasses", "contextlib", "abc", "_py_abc", "atexit", "site", "sysconfig", "code", "codeop",
        "logging", "argparse", "optparse", "getopt", "cmd", "shlex", "venv", "platform", "distutils", "tabnanny",
        "__future__", "ctypes", "rlcompleter", "getpass", "opcode", "_sitebuiltins", "_osx_support", "_aix_support",
    ),
    "stdlib.gui": ("tkinter", "turtle", "curses"),
}
_AREA_OF = {module: area for area, modules in STDLIB_AREAS.items() for module in modules}


@dataclass(frozen=True)
class DocEntry:
    """One documented object: where it lives, what it is, and its raw (cleandoc'ed) docstring."""

    domain: str
    source: str  # the real dotted path, e.g. "numpy._core.fromnumeric.sum"
    display: str  # the name a user would write, e.g. "numpy.sum"
    qualname: str  # the name inside its module, e.g. "sum" ("" for modules and topics)
    kind: str  # "module" | "class" | "function" | "method" | "property" | "topic"
    doc: str


def stdlib_area(module: str) -> str:
    """The stdlib domain of a top-level standard-library module."""
    return _AREA_OF.get(module, "stdlib.other")


def display_name(module: str, qualname: str) -> str:
    """``module.qualname`` with the module path cut before its first private component (where it is re-exported)."""
    public: list[str] = []
    for part in module.split("."):
        if part.startswith("_") and public:
            break
        public.append(part)
    return ".".join(public + ([qualname] if qualname else []))


def package_root(package: str) -> str | None:
    """The directory (or single file) of an installed top-level package, located without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        if spec is not None and spec.submodule_search_locations:
            return sorted(spec.submodule_search_locations)[0]
        return None
    return os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin


def iter_source_files(root: str, prefix: str) -> Iterator[tuple[str, str]]:
    """``(path, dotted module name)`` of every ``.py`` file under ``root``, sorted, skipping tests and vendored code."""
    if os.path.isfile(root):
        yield root, prefix
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d.isidentifier())
        rel = os.path.relpath(dirpath, root)
        base = prefix if rel == "." else prefix + "." + rel.replace(os.sep, ".")
        for fname in sorted(filenames):
            if not fname.endswith(".py") or fname.startswith(SKIP_FILE_PREFIXES) or not fname[:-3].isidentifier():
                continue
            stem = fname[:-3]
            yield os.path.join(dirpath, fname), base if stem == "__init__" else f"{base}.{stem}"


def stdlib_files() -> list[tuple[str, str]]:
    """``(path, module)`` of the pure-Python standard library of the running interpreter."""
    root = sysconfig.get_paths()["stdlib"]
    files: list[tuple[str, str]] = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name in SKIP_DIRS or name.startswith(("test", "config-")):
            continue
        if os.path.isdir(path) and name.isidentifier() and os.path.exists(os.path.join(path, "__init__.py")):
            files.extend(iter_source_files(path, name))
        elif name.endswith(".py") and name[:-3].isidentifier() and not name.startswith(SKIP_FILE_PREFIXES):
            files.append((path, name[:-3]))
    return files


def _is_property(node: ast.AST) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id in ("property", "cached_property"))
        or (isinstance(d, ast.Attribute) and d.attr in ("cached_property", "getter"))
        for d in getattr(node, "decorator_list", ())
    )


def _definitions(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Definitions in a body, looking into ``if`` / ``try`` blocks (conditional definitions) but not into functions."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Expr)):
            yield node
        elif isinstance(node, ast.If):
            yield from _definitions(node.body)
            yield from _definitions(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _definitions(node.body)


def _add_newdoc(node: ast.stmt) -> tuple[str, str, str] | None:
    """``(module, qualname, doc)`` of a numpy-style ``add_newdoc(module, name, doc | (attr, doc))`` call."""
    call = node.value if isinstance(node, ast.Expr) else None
    if not isinstance(call, ast.Call) or len(call.args) < 3:
        return None
    func = call.func
    if getattr(func, "id", getattr(func, "attr", None)) != "add_newdoc":
        return None
    module, name, doc = call.args[:3]
    if not (isinstance(module, ast.Constant) and isinstance(name, ast.Constant)):
        return None
    if isinstance(doc, ast.Tuple) and len(doc.elts) == 2 and isinstance(doc.elts[0], ast.Constant):
        qual, doc = f"{name.value}.{doc.elts[0].value}", doc.elts[1]
    else:
        qual = str(name.value)
    if not (isinstance(doc, ast.Constant) and isinstance(doc.value, str)):
        return None
    import inspect

    return str(module.value), qual, inspect.cleandoc(doc.value)


def entries_from_file(path: str, module: str, domain: str) -> Iterator[DocEntry]:
    """Documented public objects of one source file (module, classes, functions, methods, properties)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (SyntaxError, ValueError, RecursionError):
        return
    doc = ast.get_docstring(tree)
    if doc and not module.rsplit(".", 1)[-1].startswith("_"):
        yield DocEntry(domain, module, display_name(module, ""), "", "module", doc)

    def visit(body: Sequence[ast.stmt], qual: str, in_class: bool) -> Iterator[DocEntry]:
        for node in _definitions(body):
            if isinstance(node, ast.Expr):
                found = _add_newdoc(node) if not qual else None
                if found and not any(p.startswith("_") for p in found[1].split(".")):
                    mod, name, text = found
                    yield DocEntry(domain, f"{mod}.{name}", display_name(mod, name), name, "function", text)
                continue
            if node.name.startswith("_"):
                continue
            name = f"{qual}.{node.name}" if qual else node.name
            text = ast.get_docstring(node)
            if isinstance(node, ast.ClassDef):
                if text:
                    yield DocEntry(domain, f"{module}.{name}", display_name(module, name), name, "class", text)
                yield from visit(node.body, name, True)
            elif text:
                kind = ("property" if _is_property(node) else "method") if in_class else "function"
                yield DocEntry(domain, f"{module}.{name}", display_name(module, name), name, kind, text)

    yield from visit(tree.body, "", False)


_TITLE_RULE = re.compile(r"^(\*{3,}|={3,}|-{3,})$")


def pydoc_topic_entries(domain: str) -> Iterator[DocEntry]:
    """Sections of the Python language reference shipped in ``pydoc_data.topics`` (one entry per subsection)."""
    from pydoc_data.topics import topics

    for key in sorted(topics):
        lines = topics[key].splitlines()
        title, body, sections = key, [], []
        for i, line in enumerate(lines):
            if i + 1 < len(lines) and _TITLE_RULE.match(lines[i + 1].strip()) and line.strip():
                if body:
                    sections.append((title, body))
                title, body = line.strip(), []
            elif not _TITLE_RULE.match(line.strip()):
                body.append(line)
        sections.append((title, body))
        topic_title = sections[0][0]
        for n, (section, text) in enumerate(sections):
            subject = topic_title if n == 0 else f"{section} ({topic_title})"
            doc = "\n".join(text).strip()
            if doc:
                yield DocEntry(domain, f"pydoc_data.topics.{key}.{n}", subject, "", "topic", doc)
