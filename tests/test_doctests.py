"""Run the docstring examples of every hf_select module (TRL-style: examples in docs are tested)."""

import doctest
import importlib
import importlib.util
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


def missing_optional_package(err: ImportError) -> str | None:
    """The optional third-party package whose absence ``err`` reports, else ``None`` (a real import bug)."""
    top = (getattr(err, "name", None) or "").split(".")[0]
    if not isinstance(err, ModuleNotFoundError) or not top or top == "hf_select":
        return None
    return top if importlib.util.find_spec(top) is None else None


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # skip only for a missing optional package; any other ImportError is a failure
        package = missing_optional_package(err)
        if package is None:
            raise
        pytest.skip(f"{name} needs the optional package {package!r}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_only_a_missing_third_party_package_is_skipped():
    assert missing_optional_package(ModuleNotFoundError("No module named 'no_such_pkg_xyz'", name="no_such_pkg_xyz")) \
        == "no_such_pkg_xyz"
    assert missing_optional_package(ImportError("cannot import name 'x' from 'hf_select.data'")) is None
    assert missing_optional_package(ModuleNotFoundError("hf_select.gone", name="hf_select.gone")) is None
    assert missing_optional_package(ModuleNotFoundError("numpy", name="numpy")) is None  # installed: a real failure
