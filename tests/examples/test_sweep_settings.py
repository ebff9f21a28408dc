"""examples/sweep.py's settings, without running it: what each method is told, and what keys a sweep's identity."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

SWEEP = Path(__file__).resolve().parents[2] / "examples" / "sweep.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sweep_under_test", SWEEP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_model_based_selectors_score_the_trained_tokens_and_state_their_setup(sweep):
    from hf_select.selectors.base import get_selector_class

    cfg = sweep.parse(["--max-length", "48", "--less-checkpoints", "2"])
    assert cfg.output_dir == str(Path("runs") / "sweep") and cfg.train_convention == "full"
    plans = sweep.resolve_methods(cfg)
    assert plans["perplexity"]["options"]["max_length"] == 48 == plans["less"]["options"]["max_length"]
    assert plans["less"]["options"]["warmup_epochs"] == 2 and "2 warm-up epoch(s)" in plans["less"]["notes"]
    fields = {f.name for f in dataclasses.fields(get_selector_class("perplexity").config_class)}
    if "preset" in fields:  # the CCDS preset, once the perplexity selector has it
        assert plans["perplexity"]["options"]["preset"] == "ccds" and "CCDS preset" in plans["perplexity"]["notes"]
    else:
        assert "preset" not in plans["perplexity"]["options"] and "no CCDS preset" in plans["perplexity"]["notes"]
    assert "max_length" not in plans["bm25"]["options"] and plans["bm25"]["strategy"] == "top"


def test_a_sweeps_identity_is_every_setting_but_where_and_which_runs(sweep):
    base = sweep.parse(["--pool-rows", "60"])
    key = sweep.config_key(sweep.settings_of(base, sweep.resolve_methods(base)))
    more_runs = sweep.parse(["--pool-rows", "60", "--fractions", "0.1", "--methods", "random", "--output-dir", "x"])
    assert sweep.config_key(sweep.settings_of(more_runs, sweep.resolve_methods(base))) == key
    for other in (["--max-length", "32"], ["--train-convention", "lora"], ["--less-checkpoints", "4"], ["--seed", "1"]):
        cfg = sweep.parse(["--pool-rows", "60", *other])
        assert sweep.config_key(sweep.settings_of(cfg, sweep.resolve_methods(cfg))) != key, other
    with pytest.raises(SystemExit, match="fractions must be in"):
        sweep.parse(["--fractions", "1.0"])
