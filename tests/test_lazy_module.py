"""hf_select/_lazy_module.py: the lazy top-level module pickles (issue 10: __reduce__ used an unset attribute)."""

import pickle
import subprocess
import sys

import hf_select


def test_pickling_the_package_gives_the_same_module():
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(hf_select, protocol=protocol)) is hf_select


def test_a_pickled_reference_resolves_in_a_fresh_process():
    blob = pickle.dumps({"module": hf_select, "select": hf_select.select})
    code = ("import pickle, sys; obj = pickle.loads(sys.stdin.buffer.read()); "
            "print(obj['module'].__name__, obj['select'].__name__, obj['module'].__version__)")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.decode().split() == ["hf_select", "select", hf_select.__version__]
