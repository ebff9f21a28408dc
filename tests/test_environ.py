"""Library code never writes ``os.environ`` (issue 10): settings are passed as arguments, not as process state."""

import ast
from pathlib import Path

import hf_select

MUTATORS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _is_environ(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def environ_writes(source: str) -> list[int]:
    """Line numbers of writes to ``os.environ`` (and ``os.putenv`` / ``os.unsetenv``) in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and _is_environ(t.value) for t in targets):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if (func.attr in MUTATORS and _is_environ(func.value)) or (
                    func.attr in ("putenv", "unsetenv") and isinstance(func.value, ast.Name) and func.value.id == "os"):
                lines.append(node.lineno)
    return sorted(lines)


def test_the_checker_sees_every_kind_of_write():
    code = ("import os\nos.environ['A'] = '1'\nos.environ.setdefault('B', '1')\nos.environ.update(C='1')\n"
            "del os.environ['A']\nos.putenv('D', '1')\nx = os.environ.get('E')\n")
    assert environ_writes(code) == [2, 3, 4, 5, 6]


def test_library_code_never_writes_os_environ():
    root = Path(hf_select.__file__).parent
    found = {str(p.relative_to(root)): environ_writes(p.read_text(encoding="utf-8")) for p in root.rglob("*.py")}
    assert {path: lines for path, lines in found.items() if lines} == {}
