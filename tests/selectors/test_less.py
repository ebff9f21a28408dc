"""LESS selector end to end on a tiny random Llama (byte-level tokenizer, no download)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

import hf_select as hs  # noqa: E402
from hf_select.selectors.less import LessConfig, aggregate_subtasks  # noqa: E402
from hf_select.testing import tiny_test_setup  # noqa: E402

FAST = dict(lora_r=4, lora_alpha=8, lora_dropout=0.0, warmup_fraction=0.5, warmup_epochs=2, projection_dim=256,
            learning_rate=1e-3, train_batch_size=4, show_progress=False)


@pytest.fixture(scope="module")
def tiny():
    return tiny_test_setup(seed=0)


def pool_rows():
    rows = [{"prompt": f"What is {i} plus {i}?", "completion": f" {2 * i}."} for i in range(8)]
    rows += [{"prompt": f"Name colour number {i}.", "completion": " Blue, the colour of the sky."} for i in range(8)]
    return rows


def test_end_to_end_scores_and_cost(tiny):
    model, tok = tiny
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    target = [{"prompt": "What is 3 plus 3?", "completion": " 6.", "task": "math"},
              {"prompt": "Name colour number 2.", "completion": " Blue, the colour of the sky.", "task": "colour"}]
    sel = hs.get_selector("less", model=model, tokenizer=tok, target_subtask_column="task", **FAST)
    scores = sel.score(pool_rows(), target=target)
    assert scores.shape == (16,) and np.isfinite(scores).all()
    assert np.std(scores) > 0
    names = [s.name for s in sel.last_cost.stages]
    for stage in ("warmup_train", "checkpoint1/pool_gradients", "checkpoint1/target_gradients",
                  "checkpoint1/projection", "checkpoint2/pool_gradients", "influence"):
        assert stage in names
    by_name = {s.name: s for s in sel.last_cost.stages}
    assert by_name["warmup_train"].flops > 0 and by_name["warmup_train"].seconds > 0
    assert by_name["checkpoint1/pool_gradients"].flops > by_name["checkpoint1/target_gradients"].flops
    lrs = by_name["warmup_train"].detail["learning_rates"]
    assert len(lrs) == 2 and all(lr > 0 for lr in lrs)
    assert sel.last_cost.notes["less_config"]["projection_dim"] == 256
    from hf_select.scoring.models import fast_dtype

    # dtype="auto": the frozen base in the hardware's fast dtype, recorded; LoRA weights stay float32
    assert sel.last_cost.notes["less_config"]["resolved_dtype"] == fast_dtype("cpu")
    # the user's model is not modified (LoRA is added to a copy)
    assert all((p == before[n]).all() for n, p in model.named_parameters())
    again = hs.get_selector("less", model=model, tokenizer=tok, target_subtask_column="task", **FAST)
    assert np.allclose(again.score(pool_rows(), target=target), scores, atol=1e-6)
    exact = hs.get_selector("less", model=model, tokenizer=tok, target_subtask_column="task", dtype="float32", **FAST)
    fp32 = exact.score(pool_rows(), target=target)
    assert exact.last_cost.notes["less_config"]["resolved_dtype"] == "float32"
    assert np.corrcoef(fp32, scores)[0, 1] > 0.9  # the bf16 base (where used) ranks like float32


def test_duplicate_of_target_ranks_high(tiny):
    model, tok = tiny
    pool = pool_rows()
    target = [{"prompt": "Name colour number 5.", "completion": " Blue, the colour of the sky."}]
    scores = hs.get_selector("less", model=model, tokenizer=tok, **FAST).score(pool, target=target)
    colour_mean = scores[8:].mean()
    math_mean = scores[:8].mean()
    assert colour_mean > math_mean
    assert 13 in np.argsort(-scores)[:4]  # the exact duplicate


def test_estimate_cost_matches_the_measured_stages(tiny):
    model, tok = tiny
    target = [{"prompt": "What is 3 plus 3?", "completion": " 6."}]
    sel = hs.get_selector("less", model=model, tokenizer=tok, **FAST)
    estimate = sel.estimate_cost(pool_rows(), target=target)
    sel.score(pool_rows(), target=target)
    measured = {s.name: s.flops for s in sel.last_cost.stages}
    est = {s.name: s.flops for s in estimate.stages}
    for name in ("checkpoint1/pool_gradients", "checkpoint2/target_gradients", "checkpoint1/projection", "influence"):
        assert est[name] == pytest.approx(measured[name], rel=1e-6), name
    assert est["warmup_train"] == pytest.approx(measured["warmup_train"], rel=0.5)  # expected vs drawn subset


def test_aggregate_subtasks():
    sim = np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 5.0]])
    assert aggregate_subtasks(sim, ["a", "a", "b"]).tolist() == [2.0, 5.0]
    assert aggregate_subtasks(sim, ["a", "a", "a"]).tolist() == [4 / 3, 3.0]


def test_bad_inputs(tiny):
    model, tok = tiny
    sel = hs.get_selector("less", model=model, tokenizer=tok, **FAST)
    with pytest.raises(ValueError, match="target"):
        sel.score(pool_rows(), target=[])
    with pytest.raises(ValueError, match="target"):
        sel.score(pool_rows(), target=None)
    no_model = hs.get_selector("less", **FAST)
    with pytest.raises(ValueError, match="model"):
        no_model.score(pool_rows(), target=["x"])
    with pytest.raises(ValueError, match="target_subtask_column"):
        hs.get_selector("less", model=model, tokenizer=tok, target_subtask_column="task", **FAST).score(
            pool_rows(), target=[{"prompt": "a", "completion": "b"}])
    with pytest.raises(ValueError, match="does not exist|not a saved model|not exist"):
        hs.get_selector("less", model="/nonexistent/model/dir", **FAST).score(pool_rows(), target=["x"])
    with pytest.raises(ValueError, match="warmup_fraction"):
        LessConfig(warmup_fraction=0.0)
    with pytest.raises(TypeError, match="unknown option"):
        hs.get_selector("less", projection_dims=3)
