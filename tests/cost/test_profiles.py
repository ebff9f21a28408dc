"""One method -> (selection FLOPs, gain rate) map: the planner, `hf-select plan` and the Space give the same table."""

import importlib
import re
import sys
from pathlib import Path

import pytest

from hf_select.cli.main import main
from hf_select.cost.flops import less_pipeline_flops, perplexity_selection_flops, training_flops
from hf_select.cost.formatting import format_flops
from hf_select.cost.planner import NO_SELECTION, THEORY_GAIN_RATES, plan
from hf_select.cost.profiles import DEFAULT_LORA_FRACTION, default_profiles
from hf_select.import_utils import is_package_available

N_POOL, TOKENS_PER_EXAMPLE, N_TARGET = 270_000, 200, 50   # 200: the Space's tokens-per-example guess for a total
TRAIN, SELECTOR = 7e9, 1.35e8
SPACES = Path(__file__).resolve().parents[2] / "spaces"


def library_rows(budget, methods, convention="full"):
    inputs = default_profiles(methods, train_model=TRAIN, selector_model=SELECTOR, n_pool=N_POOL,
                              pool_tokens=N_POOL * TOKENS_PER_EXAMPLE, n_target=N_TARGET, train_convention=convention)
    result = plan(budget, inputs.profiles, train_flops_full=inputs.train_flops_full)
    return result, [[r.method, format_flops(r.selection_flops), format_flops(r.train_flops) if r.feasible else "-",
                     f"{r.fraction:.4f}" if r.feasible else "-", f"{r.predicted:.2f}" if r.feasible else "-"]
                    for r in result.table]


def cli_rows(capsys, budget, methods, convention="full"):
    code = main(["plan", "--budget-flops", str(budget), "--train-params", str(TRAIN), "--selector-params",
                 str(SELECTOR), "--pool-size", str(N_POOL), "--tokens-per-example", str(TOKENS_PER_EXAMPLE),
                 "--target-size", str(N_TARGET), "--methods", ",".join(methods), "--train-convention", convention,
                 "--no-plot"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.split("\n\n")[0].splitlines()[2:]
    rows = [re.split(r"\s{2,}", line) for line in lines]
    return out, [[r[0].removesuffix(" *"), r[2], r[3], r[4], r[5]] for r in rows]


@pytest.fixture(scope="module")
def handlers():
    if not is_package_available("gradio"):
        pytest.skip('the Space needs gradio: pip install "hf-select[space]"')
    sys.path.insert(0, str(SPACES))  # the Space imports its handlers as a top-level module, as app.py does
    try:
        yield importlib.import_module("space_handlers")
    finally:
        sys.path.remove(str(SPACES))


@pytest.mark.parametrize("budget", [3e17, 2e18, 1e20])
@pytest.mark.parametrize("convention", ["full", "lora"])
def test_planner_cli_and_space_give_the_same_table(capsys, handlers, budget, convention):
    methods = ["random", "bm25", "embedding", "dsir", "perplexity", "less"]
    result, rows = library_rows(budget, methods, convention)
    out, printed = cli_rows(capsys, budget, methods, convention)
    assert printed == rows
    cfg = handlers.SpaceConfig(train_convention=convention, target_examples=N_TARGET)
    _, md, table = handlers.run_plan("Embedded pool", None, None, "", "train", methods, "FLOPs", str(budget), None,
                                     0.4, 1, str(TRAIN), str(SELECTOR), str(N_POOL * TOKENS_PER_EXAMPLE), cfg=cfg)
    assert [r[:5] for r in table] == rows, md
    assert f"training FLOPs: {convention}" in md and f"training FLOPs: {convention}" in out
    if budget >= 1e20:  # above the full-pool cost: all three say "no selection"
        assert result.method == NO_SELECTION and "no selection" in md and "recommended: train on everything" in out


def test_default_profiles_prices_with_the_cost_functions():
    tokens = N_POOL * TOKENS_PER_EXAMPLE
    for convention in ("full", "lora"):
        inputs = default_profiles(["random", "perplexity", "less"], train_model=TRAIN, selector_model=SELECTOR,
                                  n_pool=N_POOL, pool_tokens=tokens, n_target=N_TARGET, train_convention=convention,
                                  less_checkpoints=2, less_projection="sparse_sign")
        by = {p.name: p for p in inputs.profiles}
        assert by["random"].selection_flops == 0 and by["less"].lam == THEORY_GAIN_RATES["less"]
        assert by["perplexity"].selection_flops == sum(s.flops for s in perplexity_selection_flops(SELECTOR, tokens))
        less = less_pipeline_flops(SELECTOR, tokens, TOKENS_PER_EXAMPLE * N_TARGET, lora_params=0.02 * SELECTOR,
                                   n_pool=N_POOL, n_target=N_TARGET, warmup_epochs=2, projection_kind="sparse_sign",
                                   train_convention=convention)
        assert by["less"].selection_flops == pytest.approx(sum(s.flops for s in less))
        assert inputs.train_flops_full == training_flops(TRAIN, tokens, train_convention=convention,
                                                         lora_params=DEFAULT_LORA_FRACTION * TRAIN)
        assert any(line.startswith(f"training FLOPs: {convention}") for line in inputs.describe())
    with pytest.raises(ValueError, match="No gain rate"):
        default_profiles(["magic"], train_model=TRAIN, n_pool=10, pool_tokens=100)
    with pytest.raises(ValueError, match="train_convention"):
        default_profiles(["random"], train_model=TRAIN, n_pool=10, pool_tokens=100, train_convention="6N")
