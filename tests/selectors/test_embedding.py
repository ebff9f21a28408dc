"""Embedding selector: agrees with SentenceTransformer.encode, batching-invariant, mean/max aggregation, cost."""

import os

import numpy as np
import pytest

import hf_select as hs
from hf_select.testing import require_minilm, require_sentence_transformers

pytestmark = [pytest.mark.slow, require_minilm]

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def texts():
    from hf_select.data.builtin import load_builtin_pool
    from hf_select.data.formats import text_view

    pool = load_builtin_pool(max_rows=3000)
    full = text_view(pool.select(range(4)), "full")
    query = text_view(pool.select(range(4, 14)), "query")
    return full + query + ["", "short", "a " * 300]  # empty, tiny and truncated texts too


@pytest.fixture(scope="module")
def fp32():
    return hs.get_selector("embedding", dtype="float32", batch_size=8, show_progress=False)


@pytest.fixture(scope="module")
def base(texts, fp32):
    return fp32.encode(texts)


def cosine_rows(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@require_sentence_transformers
def test_agrees_with_sentence_transformers(texts, fp32, base):
    from sentence_transformers import SentenceTransformer

    from hf_select.selectors.embedding import default_model_path

    st = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    ref = st.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    ours = base
    assert ours.shape == ref.shape == (len(texts), 384)
    assert cosine_rows(ours, ref).min() >= 0.9999
    bf16 = hs.get_selector("embedding", dtype="bfloat16", batch_size=8, show_progress=False).encode(texts)
    assert cosine_rows(bf16, ref).min() >= 0.999
    # a SentenceTransformer object is accepted as the model, with its pooling and max_seq_length
    via_st = hs.get_selector("embedding", model=st, dtype="float32", show_progress=False)
    np.testing.assert_allclose(via_st.encode(texts[:5]), ours[:5], atol=2e-5)


def test_batching_and_order_invariance(texts, fp32, base):
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    sub = [0, 5, 9, len(texts) - 3, len(texts) - 2]  # long, short and empty texts
    one_by_one = hs.get_selector("embedding", dtype="float32", batch_size=1, sort_by_length=False,
                                 show_progress=False).encode([texts[i] for i in sub])
    np.testing.assert_allclose(one_by_one, base[sub], atol=2e-5)
    perm = np.random.default_rng(0).permutation(len(texts))
    np.testing.assert_allclose(fp32.encode([texts[i] for i in perm]), base[perm], atol=2e-5)


def test_mean_and_max_aggregation(texts, fp32, base):
    pool, target = texts[4:12], texts[12:16]
    p, t = base[4:12].astype(np.float64), base[12:16].astype(np.float64)
    cos = p @ t.T
    mean = fp32.score(pool, target=target)
    np.testing.assert_allclose(mean, cos.mean(axis=1), atol=2e-5)
    sel_max = hs.get_selector("embedding", dtype="float32", aggregate="max", similarity_block_size=3,
                              show_progress=False)
    np.testing.assert_allclose(sel_max.score(pool, target=target), cos.max(axis=1), atol=2e-5)
    assert not np.allclose(mean, cos.max(axis=1))


def test_cost_stages_and_flops(texts, fp32):
    from hf_select.cost.flops import embedding_selection_flops

    pool, target = texts[:10], texts[10:13]
    fp32.score(pool, target=target)
    cost = fp32.last_cost
    stages = {s.name: s for s in cost.stages}
    assert {"load", "encode_target", "encode_pool", "similarity"} <= set(stages)
    pool_lengths = [len(x) for x in fp32.tokenize(pool)]
    target_lengths = [len(x) for x in fp32.tokenize(target)]
    expected = {s.name: s.flops for s in embedding_selection_flops(fp32.model.config, pool_lengths, target_lengths)}
    assert stages["encode_pool"].flops == pytest.approx(expected["encode_pool"])
    assert stages["encode_target"].flops == pytest.approx(expected["encode_target"])
    assert stages["encode_pool"].tokens == sum(pool_lengths) and stages["encode_pool"].seconds > 0
    assert stages["encode_pool"].detail["padded_tokens"] >= sum(pool_lengths)
    estimate = fp32.estimate_cost(pool, target)
    assert estimate.flops == pytest.approx(stages["encode_pool"].flops + stages["encode_target"].flops)


def test_max_length_truncates(texts):
    sel = hs.get_selector("embedding", dtype="float32", max_length=8, show_progress=False)
    assert max(len(x) for x in sel.tokenize(texts)) == 8
    assert sel.encode(texts[:3]).shape == (3, 384)


def test_model_object_with_tokenizer_and_cls_pooling(texts, base):
    from transformers import AutoModel, AutoTokenizer

    from hf_select.selectors.embedding import default_model_path

    path = default_model_path()
    model = AutoModel.from_pretrained(path, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    same = hs.get_selector("embedding", model=model, tokenizer=tok, dtype="float32", max_length=256,
                           show_progress=False)
    np.testing.assert_allclose(same.encode(texts[:6]), base[:6], atol=2e-5)
    cls = hs.get_selector("embedding", model=path, pooling="cls", dtype="float32", show_progress=False)
    assert cosine_rows(cls.encode(texts[:6]), base[:6]).min() < 0.99


def test_query_view_is_default():
    rows = [{"prompt": "What is a cat?", "completion": " A stock market index."},
            {"prompt": "What is an index?", "completion": " A kitten."}]
    sel = hs.get_selector("embedding", dtype="float32", show_progress=False)
    scores = sel.score(rows, target=["cats and kittens"])
    assert sel.default_view == "query" and scores[0] > scores[1]


def test_registry_maps_to_this_module():
    from hf_select.selectors.base import BUILTIN_SELECTORS, get_selector_class
    from hf_select.selectors.embedding import EmbeddingSelector

    assert get_selector_class("embedding") is EmbeddingSelector
    assert BUILTIN_SELECTORS["embedding"] == "hf_select.selectors.embedding"


def test_auto_dtype_is_resolved(fp32):
    sel = hs.get_selector("embedding", show_progress=False)
    assert sel.compute_dtype in ("float32", "bfloat16")
    assert fp32.compute_dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"pooling": "max"}, ValueError),
        ({"aggregate": "sum"}, ValueError),
        ({"dtype": "int8"}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"max_length": -3}, ValueError),
        ({"model": 12}, TypeError),
    ],
)
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        hs.get_selector("embedding", **kwargs)


def test_missing_model_folder_and_single_string(tmp_path, fp32):
    with pytest.raises(ValueError, match="local"):
        hs.get_selector("embedding", model=str(tmp_path / "nope")).encode(["x"])
    with pytest.raises(TypeError, match="list"):
        fp32.encode("a single string")
