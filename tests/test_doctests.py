"""Run the docstring examples of every hf_select module (TRL-style: examples in docs are tested)."""

import doctest
import importlib
import pkgutil

import pytest

import hf_select

SKIP_PREFIXES = ("hf_select.cli.main",)


def _modules():
    names = []
    for info in pkgutil.walk_packages(hf_select.__path__, "hf_select."):
        if not info.name.startswith(SKIP_PREFIXES):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # an optional dependency of that module is missing
        pytest.skip(f"{name}: {err}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
