import subprocess
import sys

import hf_select


def test_import_is_lazy_and_torch_free():
    code = ("import sys, hf_select as hs; hs.list_selectors(); hs.SelectionConfig; "
            "import hf_select.cost, hf_select.strategies; "
            "bad=[m for m in ('torch','transformers','trl','gradio','matplotlib') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_resolve():
    for name in ("select", "SelectionResult", "Selector", "SelectorConfig", "register_selector", "get_selector",
                 "list_selectors", "SelectionConfig", "SelectionCost", "StageCost", "text_view", "detect_format"):
        assert getattr(hf_select, name) is not None
    assert "select" in dir(hf_select)


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hf_select.nope  # noqa: B018
