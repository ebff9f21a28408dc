"""target_view: which side of the target examples a selector reads (issue 11: the paper's queries hold the answers)."""

import pytest

import hf_select as hs
from hf_select.selectors.base import SelectorConfig

TARGET = [{"prompt": "What is numpy?", "completion": " An array library."}]


def test_paper_defaults_read_the_full_target_and_others_follow_the_pool_view():
    assert SelectorConfig().target_view == "auto"
    from hf_select.selectors.bm25 import BM25Config
    from hf_select.selectors.embedding import EmbeddingConfig

    assert BM25Config().target_view == "full" and EmbeddingConfig().target_view == "full"
    assert "answers" in BM25Config.__dataclass_fields__["target_view"].metadata["help"]
    bm25 = hs.get_selector("bm25")
    assert bm25.view == "query" and bm25.target_texts(TARGET) == ["What is numpy? An array library."]
    assert hs.get_selector("bm25", target_view="query").target_texts(TARGET) == ["What is numpy?"]
    assert hs.get_selector("bm25", target_view="auto").target_texts(TARGET) == ["What is numpy?"]
    dsir = hs.get_selector("dsir", text_view="query")
    assert dsir.target_texts(TARGET) == ["What is numpy?"]  # auto: the pool's view


def test_unknown_target_view_is_rejected():
    with pytest.raises(ValueError, match="target_view='answer' is not known"):
        hs.get_selector("bm25", target_view="answer")
