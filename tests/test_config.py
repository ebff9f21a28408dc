"""SelectionConfig: parseable by HfArgumentParser / TrlParser (dict and list options as JSON strings), validated."""

import pytest

from hf_select import SelectionConfig
from hf_select.import_utils import is_transformers_available

needs_transformers = pytest.mark.skipif(not is_transformers_available(), reason="transformers is needed")


@needs_transformers
def test_hf_argument_parser_parses_it():
    from transformers import HfArgumentParser

    (cfg,) = HfArgumentParser(SelectionConfig).parse_args_into_dataclasses(
        ["--selector", "embedding", "--fraction", "0.1", "--selector_kwargs", '{"aggregate": "max"}'])
    assert cfg == SelectionConfig(selector="embedding", fraction=0.1, selector_kwargs={"aggregate": "max"})


@needs_transformers
def test_every_field_parses_from_the_command_line():
    from transformers import HfArgumentParser

    (cfg,) = HfArgumentParser(SelectionConfig).parse_args_into_dataclasses([
        "--k", "3", "--strategy", "band", "--strategy_kwargs", '{"low": 0.2, "high": 0.8}', "--seed", "4",
        "--target", "target.jsonl", "--filters", '[{"name": "malformed"}]', "--refresh", "epoch",
        "--ordering", "score", "--train_model", "7e9", "--train_epochs", "2", "--train_lora_params", "1000",
        "--cache_dir", "cache"])
    assert (cfg.k, cfg.strategy, cfg.strategy_kwargs, cfg.seed) == (3, "band", {"low": 0.2, "high": 0.8}, 4)
    assert (cfg.target, cfg.filters, cfg.refresh, cfg.ordering) == ("target.jsonl", [{"name": "malformed"}],
                                                                     "epoch", "score")
    assert (cfg.train_model, cfg.train_epochs, cfg.train_lora_params, cfg.cache_dir) == (7e9, 2.0, 1000, "cache")
    (cfg,) = HfArgumentParser(SelectionConfig).parse_args_into_dataclasses(["--budget_flops", "3e17", "--refresh", "5"])
    assert cfg.budget_flops == 3e17 and cfg.refresh == 5


def test_json_strings_and_their_errors():
    cfg = SelectionConfig(k=2, selector_kwargs='{"k1": 1.2}', strategy_kwargs="{}", filters="[]")
    assert cfg.selector_kwargs == {"k1": 1.2} and cfg.strategy_kwargs == {} and cfg.filters == []
    with pytest.raises(ValueError, match="selector_kwargs must be a JSON dict"):
        SelectionConfig(k=2, selector_kwargs="aggregate=max")
    with pytest.raises(ValueError, match="filters must be a list"):
        SelectionConfig(k=2, filters='{"name": "malformed"}')
    with pytest.raises(ValueError, match="refresh='often'"):
        SelectionConfig(k=2, refresh="often")


def test_size_is_checked_when_given_and_when_selecting():
    assert not SelectionConfig().is_sized()  # a parser builds it before the size is known
    with pytest.raises(ValueError, match="Give one of k"):
        SelectionConfig().size_spec()
    with pytest.raises(ValueError, match="only one of k, fraction"):
        SelectionConfig(k=2, fraction=0.1)
    assert SelectionConfig(strategy="threshold").size_spec() == ("all", None)
