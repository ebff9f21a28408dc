"""Concurrent CPU batch workers: same scores as one worker, threads restored, errors stop the workers."""

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hf_select.scoring.encoding import TokenizedExamples  # noqa: E402
from hf_select.scoring.engine import NLLConfig, score_nll  # noqa: E402
from hf_select.scoring.workers import (  # noqa: E402
    check_cpu_workers,
    map_batches,
    resolve_cpu_workers,
    thread_unsafe_modules,
)


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(1)
    ids = [rng.integers(0, 128, size=int(n)).tolist() for n in rng.integers(1, 90, size=40)]
    return TokenizedExamples.from_ids(ids)


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_workers_give_the_scores_of_one_worker(tiny_model, examples, one_thread, dtype):
    def run(workers):
        cfg = NLLConfig(dtype=dtype, cpu_workers=workers, max_tokens_per_batch=128, show_progress=False,
                        compile="off")
        return score_nll(tiny_model, examples, cfg)

    one, three = run(1), run(3)
    assert three.plan["cpu_workers"] == 3 and one.plan["cpu_workers"] == 1
    np.testing.assert_array_equal(one.sum_nll, three.sum_nll)  # bitwise: one intra-op thread either way
    np.testing.assert_array_equal(one.num_targets, three.num_targets)
    assert one.forward_tokens == three.forward_tokens and one.padded_tokens == three.padded_tokens
    assert torch.get_num_threads() == 1  # restored to what the caller had


def test_auto_uses_torch_threads_and_restores_them(tiny_model, examples):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = score_nll(tiny_model, examples, NLLConfig(dtype="float32", max_tokens_per_batch=128,
                                                        show_progress=False, compile="off"))
        assert res.plan["cpu_workers"] == 2 and "auto" in res.plan["cpu_workers_reason"]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_training_mode_and_weights_restored(tiny_model, examples):
    tiny_model.train()
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    score_nll(tiny_model, examples, NLLConfig(dtype="bfloat16", cpu_workers=2, max_tokens_per_batch=128,
                                              show_progress=False, compile="off"))
    assert tiny_model.training
    tiny_model.eval()
    for k, v in tiny_model.state_dict().items():
        assert v.dtype == before[k].dtype and torch.equal(v, before[k])


def test_resolve_and_check():
    assert resolve_cpu_workers(4, "cpu", num_batches=2, compiled=False)[0] == 2  # never more than the batches
    assert resolve_cpu_workers("auto", "cpu", num_batches=9, compiled=True)[0] == 1
    assert resolve_cpu_workers(2, "cpu", num_batches=9, compiled=True)[0] == 2  # an explicit number is honoured
    assert resolve_cpu_workers("auto", "cuda:0", num_batches=9, compiled=False)[0] == 1
    for bad in (0, -1, 1.5, "two", True, None):
        with pytest.raises(ValueError, match="cpu_workers"):
            check_cpu_workers(bad)
    with pytest.raises(ValueError, match="cpu_workers"):
        resolve_cpu_workers(0, "cpu", num_batches=1, compiled=False)


def test_bad_cpu_workers_is_refused_before_scoring(tiny_model, examples):
    with pytest.raises(ValueError, match="cpu_workers"):
        score_nll(tiny_model, examples, NLLConfig(dtype="float32", cpu_workers="many", show_progress=False))


def test_an_error_in_a_batch_reaches_the_caller_and_stops_the_pool():
    previous = torch.get_num_threads()
    started = []

    def fn(i):
        started.append(i)
        if i == 1:
            raise RuntimeError("batch 1 failed")
        time.sleep(0.01)  # 200 batches take ~1 s on 2 workers; the error arrives long before
        return i

    with pytest.raises(RuntimeError, match="batch 1 failed"):
        list(map_batches(fn, range(200), workers=2))
    assert torch.get_num_threads() == previous
    assert len(started) < 200  # the batches not started were cancelled


@pytest.mark.parametrize("rope", [{"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
                                  {"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0] * 4,
                                   "long_factor": [2.0] * 4, "original_max_position_embeddings": 32}])
def test_a_model_with_stateful_rotary_scores_on_one_worker(examples, rope):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rope_parameters=rope, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    assert thread_unsafe_modules(model)
    res = score_nll(model, examples, NLLConfig(dtype="float32", cpu_workers=2, max_tokens_per_batch=128,
                                               show_progress=False, compile="off"))
    assert res.plan["cpu_workers"] == 1 and "not safe across threads" in res.plan["cpu_workers_reason"]


def test_a_plain_model_is_thread_safe(tiny_model):
    assert thread_unsafe_modules(tiny_model) == []
