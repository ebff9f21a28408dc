"""The cost card: YAML that parses and holds the selection's numbers, a readable body, a deterministic plot."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import yaml


@pytest.fixture(scope="module")
def selection():
    import hf_select as hs

    domains = ["pets", "finance", "code"]
    pool = [{"prompt": f"question {i} about {'my cat' if i % 3 == 0 else 'the market' if i % 3 == 1 else 'python'}",
             "completion": f"answer {i}", "domain": domains[i % 3]} for i in range(45)]
    return hs.select(pool, "bm25", target=["my cat sleeps", "a cat purrs"], k=9)


def test_yaml_holds_the_numbers(selection):
    from hf_select.hub.card import render_cost_card, split_card

    card = render_cost_card(selection, repo_id="me/cats", mode="subset")
    meta, body = split_card(card)
    assert meta == yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "unknown" and meta["size_categories"] == ["n<1K"]
    assert {"hf-select", "data-selection", "selector:bm25"} <= set(meta["tags"])
    assert meta["task_categories"] == ["text-generation"]
    assert "source_datasets" not in meta  # a local pool: no "original" claim; the body names the source
    hsm = meta["hf_select"]
    cost = selection.cost
    assert hsm["selector"] == "bm25" and hsm["k"] == 9 and hsm["fraction"] == pytest.approx(9 / 45)
    assert hsm["strategy"] == "top" and hsm["mode"] == "subset" and hsm["requested"]["k"] == 9
    assert hsm["selector_config"] == selection.config["selector_config"]
    assert hsm["cost"]["selection_flops"] == cost.flops
    assert hsm["cost"]["selection_seconds"] == pytest.approx(cost.seconds)
    assert hsm["cost"]["selection_tokens"] == cost.tokens > 0
    assert [s["name"] for s in hsm["cost"]["stages"]] == [s.name for s in cost.stages]
    assert [s["seconds"] for s in hsm["cost"]["stages"]] == pytest.approx([s.seconds for s in cost.stages])
    assert hsm["hardware"] == cost.hardware and hsm["versions"]["hf_select"]
    assert hsm["source"]["num_rows"] == 45 and hsm["source"]["fingerprint"] == selection.provenance[
        "dataset_fingerprint"]
    assert hsm["target"]["num_rows"] == 2
    # the body: one cost row per stage, the domain mix of the selection, loading snippet, citation
    for stage in cost.stages:
        assert f"| {stage.name} | " in body
    chosen = Counter(selection.dataset["domain"][int(i)] for i in selection.indices)
    for name, n in chosen.items():
        assert f"| {name} | {n} | {100 * n / 9:.1f} % |" in body
    assert 'load_dataset("me/cats", split="train")' in body and "hs.load_selection(\"me/cats\")" in body
    assert "2410.16208" in body and "Compute-Constrained Data Selection" in body


def test_dataset_card_clients_read_it(selection):
    from huggingface_hub import DatasetCard

    from hf_select.hub.card import render_cost_card

    card = DatasetCard(render_cost_card(selection, repo_id="me/cats", mode="indices",
                                        source={"repo_id": "org/pool", "revision": "abc123"}))
    data = card.data.to_dict()
    assert data["configs"][0]["data_files"][0]["path"] == "hf_select/indices.parquet"
    assert data["source_datasets"] == ["org/pool"]
    assert data["hf_select"]["source"]["dataset_id"] == "org/pool"
    assert data["hf_select"]["source"]["revision"] == "abc123"
    assert "org/pool" in card.text and "abc123" in card.text


def test_budgeted_selection_card_reports_training_and_total(selection):
    from hf_select.cost.record import SelectionCost, StageCost
    from hf_select.hub.card import render_cost_card, split_card
    from hf_select.selection import SelectionResult

    torch = pytest.importorskip("torch")
    cost = SelectionCost(stages=[StageCost("forward", flops=3.0e15, seconds=12.5, tokens=40_000)],
                         hardware={"processor": "test-cpu", "cpu_count": 2, "torch": torch.__version__},
                         train_flops=9.0e15, budget_flops=1.2e16)
    res = SelectionResult(indices=np.array([3, 1]), scores=np.array([0.1, 0.9, 0.2, 1.5]), cost=cost,
                          config={"selector": "perplexity", "strategy": "top", "budget_flops": 1.2e16,
                                  "train_model": 135e6, "train_epochs": 1.0, "filter_drops": {"too_long": 7},
                                  "filters": ["max_length"]},
                          provenance={"dataset_fingerprint": "fp", "dataset_num_rows": 4})
    meta, body = split_card(render_cost_card(res, repo_id="me/budget", mode="indices"))
    c = meta["hf_select"]["cost"]
    assert (c["selection_flops"], c["train_flops_predicted"], c["total_flops"], c["budget_flops"]) == (
        3.0e15, 9.0e15, 1.2e16, 1.2e16)
    assert meta["hf_select"]["filter_drops"] == {"too_long": 7}
    assert meta["hf_select"]["hardware"]["torch"] == str(torch.__version__)  # a str subclass, dumped as str
    assert "| Predicted training | 9e+15 |" in body and "| Budget | 1.2e+16 |" in body
    assert "Selection is 25.00 % of the total compute" in body
    assert "too_long: 7" in body and "1.2e+16 FLOP budget" in body


def test_plot_is_a_deterministic_png(selection):
    from hf_select.hub.card import selection_plot_png

    png = selection_plot_png(selection)
    assert png.startswith(b"\x89PNG") and png == selection_plot_png(selection)


def test_model_card_summary_and_size_categories(selection):
    from hf_select.cost.formatting import format_seconds
    from hf_select.hub.card import cost_summary_markdown, size_category

    line = cost_summary_markdown(selection, "me/cats")
    assert "[me/cats](" in line and "9 rows selected by `bm25`" in line
    assert f"({format_seconds(selection.cost.seconds)})" in line

    text = cost_summary_markdown({"selector": "dsir", "k": 500, "cost": {"selection_flops": 2e12,
                                  "selection_seconds": 3.25, "train_flops_predicted": 1e15, "total_flops": 1.002e15}},
                                 "me/sel")
    assert "me/sel" in text and "`dsir`" in text and "2e+12 FLOPs" in text and "1e+15" in text
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_license_fields_follow_the_dataset_card_spec(selection):
    from huggingface_hub import DatasetCard, DatasetCardData

    from hf_select.hub.card import CardConfig, render_cost_card, split_card

    with pytest.raises(ValueError, match="license_name .* and license_link"):
        CardConfig(license="other")
    with pytest.raises(ValueError, match="apply only to license='other'"):
        CardConfig(license="mit", license_link="LICENSE.md")
    config = CardConfig(license="other", license_name="my-licence-1.0", license_link="LICENSE.md")
    card = render_cost_card(selection, repo_id="me/cats", config=config)
    meta, body = split_card(card)
    assert (meta["license"], meta["license_name"], meta["license_link"]) == ("other", "my-licence-1.0", "LICENSE.md")
    data = DatasetCard(card).data  # huggingface_hub's own card classes read every key back
    assert isinstance(data, DatasetCardData) and data.license == "other" and data.license_name == "my-licence-1.0"
    assert "`my-licence-1.0`" in body
    for key in ("size_categories", "task_categories", "tags"):
        assert isinstance(meta[key], list) and all(isinstance(v, str) for v in meta[key])


def test_push_cli_default_license_is_the_cards():
    import argparse

    from hf_select.cli import push
    from hf_select.hub.card import CardConfig

    parser = push.add_parser(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args(["--selection", "x", "--repo-id", "me/x"])
    assert args.license == CardConfig().license == "unknown"
    assert "default: unknown" in parser.format_help()


def test_embedded_pool_card_has_a_licensing_note_per_package():
    import hf_select as hs
    from hf_select.hub.card import render_cost_card, split_card

    pool = hs.load_builtin_pool(max_rows=400)
    res = hs.select(pool, "bm25", target=hs.load_builtin_target("validation"), k=30)
    meta, body = split_card(render_cost_card(res, repo_id="me/embedded"))
    assert "source_datasets" not in meta and "embedded pool" in body
    section = body.split("## Licensing", 1)[1].split("## How to load", 1)[0]
    chosen = Counter(pool["domain"][int(i)] for i in res.indices)
    assert "covered by the licence of the package" in section
    if chosen.get("numpy"):
        assert f"| numpy | {chosen['numpy']} | BSD" in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Package")]
    assert sum(int(r.split("|")[2]) for r in rows) == 30


def test_links_follow_hf_endpoint(selection, hub):
    from hf_select.hub.card import cost_summary_markdown, render_cost_card

    card = render_cost_card(selection, repo_id="me/cats", mode="indices", source={"repo_id": "org/pool"})
    assert f"({hub.url}/datasets/org/pool)" in card and "https://huggingface.co/datasets/org/pool" not in card
    assert f"({hub.url}/datasets/me/cats)" in cost_summary_markdown(selection, "me/cats")


def test_cards_are_parsed_by_huggingface_hub_not_by_splitting_dashes(selection):
    from hf_select.hub.card import CardConfig, render_cost_card, split_card

    card = render_cost_card(selection, repo_id="me/cats", config=CardConfig(pretty_name="cats --- and dogs"))
    meta, body = split_card(card)
    assert meta["pretty_name"] == "cats --- and dogs" and body.startswith("# cats --- and dogs")
    assert split_card("# no header\n") == ({}, "# no header\n")
    with pytest.raises(ValueError, match="not a mapping"):
        split_card("---\n- a list\n---\nbody\n")
