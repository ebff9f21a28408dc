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


@pytest.mark.parametrize("kind, nnz", [("sparse_sign", 4), ("rademacher", None)])
def test_cost_is_less_pipeline_flops_for_the_configured_checkpoints_and_projection(tiny, kind, nnz):
    """The run's stages and the estimate are cost.flops.less_pipeline_flops (the run with its drawn warm-up rows)."""
    from peft import LoraConfig

    from hf_select.cost.flops import less_pipeline_flops
    from hf_select.scoring.encoding import encode_rows
    from hf_select.scoring.finetune import trainable_lora_params

    model, tok = tiny
    target = [{"prompt": "What is 3 plus 3?", "completion": " 6."}, {"prompt": "Colour?", "completion": " Blue."}]
    sel = hs.get_selector("less", model=model, tokenizer=tok, projection_kind=kind, **FAST)
    estimate = sel.estimate_cost(pool_rows(), target=target)
    sel.score(pool_rows(), target=target)
    pool_len = encode_rows(pool_rows(), tok, completion_only=True, max_length=512, append_eos=True).lengths.tolist()
    target_len = encode_rows(target, tok, completion_only=True, max_length=512, append_eos=True).lengths.tolist()
    lora = trainable_lora_params(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                       "o_proj"]))
    warm = np.sort(np.random.default_rng(0).choice(16, size=8, replace=False))  # warmup_fraction 0.5, seed 0
    common = dict(lora_params=lora, warmup_fraction=0.5, warmup_epochs=2, n_checkpoints=2, proj_dim=256,
                  projection_kind=kind, projection_nnz=nnz or 4)
    expected = less_pipeline_flops(model.config, pool_len, target_len, warmup_lengths=[pool_len[i] for i in warm],
                                   **common)
    measured = {s.name: s for s in sel.last_cost.stages}
    assert sorted(s.name for s in expected) == sorted(n for n in measured if n not in ("load", "encode", "other"))
    for st in expected:
        assert measured[st.name].flops == st.flops and measured[st.name].tokens == st.tokens, st.name
    assert measured["checkpoint2/projection"].detail["kind"] == kind
    expected_estimate = less_pipeline_flops(model.config, pool_len, target_len, **common)
    assert [(s.name, s.flops, s.tokens) for s in estimate.stages] == \
        [(s.name, s.flops, s.tokens) for s in expected_estimate]
    dense = 2.0 * lora * 256 * (16 + 2)
    assert measured["checkpoint1/projection"].flops == (dense if nnz is None else dense * 4 / 256)
    # 8 warm-up rows, 4 per step, 2 epochs: 4 steps at 1e-3 x (0, 1, 2/3, 1/3) (transformers' linear schedule with
    # ceil(0.03 x 4) = 1 warm-up step); the hand-written schedule before gave (1, 1, 2/3, 1/3), one step ahead
    lrs = measured["warmup_train"].detail["learning_rates"]
    assert lrs == pytest.approx([0.5e-3, 0.5e-3], rel=1e-9)
    assert measured["influence"].detail["checkpoint_weights"] == pytest.approx([0.5, 0.5])  # normalised, as LESS


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
