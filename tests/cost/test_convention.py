"""The training-FLOP convention: one name and two values, checked, described and carried to every output."""

import pytest

from hf_select.cost.convention import TRAIN_CONVENTIONS, check_train_convention, describe_train_convention


def test_names_and_descriptions():
    assert TRAIN_CONVENTIONS == ("full", "lora")
    assert check_train_convention("lora") == "lora"
    assert describe_train_convention("full").startswith("full (6N")
    assert describe_train_convention("lora").startswith("lora (4N + 6L")
    for bad in ("6N", "detailed", "LoRA", None):
        with pytest.raises(ValueError, match=r"use 'full' \(6N per token, the paper's\) or 'lora'"):
            check_train_convention(bad, "--train-convention")


def test_budgeted_selection_records_and_prints_its_convention():
    import hf_select as hs
    from hf_select.cost.flops import training_flops

    pool = [{"prompt": f"question {i}", "completion": "answer " * (1 + i % 5)} for i in range(40)]
    ks = {}
    for convention, extra in (("full", {}), ("lora", {"train_lora_params": 10_000})):
        res = hs.select(pool, "random", budget_flops=1e9, train_model=1e6, train_convention=convention, seed=0,
                        **extra)
        ks[convention] = res.k
        assert res.config["train_convention"] == res.cost.notes["train_convention"] == convention
        assert f"({convention} convention)" in str(res.cost)
        from hf_select.cost.budget import dataset_lengths

        lengths = dataset_lengths(res.dataset)[res.indices]
        assert res.cost.train_flops == pytest.approx(training_flops(1e6, lengths.tolist(), train_convention=convention,
                                                                    lora_params=extra.get("train_lora_params")))
        pytest.importorskip("jinja2")
        from hf_select.hub.card import render_cost_card, split_card

        card = render_cost_card(res, repo_id="me/sel")
        meta, body = split_card(card)
        assert meta["hf_select"]["cost"]["train_convention"] == convention
        assert f"Training FLOPs: {describe_train_convention(convention)}." in " ".join(body.split())
    assert ks["full"] < ks["lora"]  # 6N vs 4N + 6L per token
    with pytest.raises(ValueError, match="needs L"):
        hs.select(pool, "random", budget_flops=5e9, train_model=1e6, train_convention="lora")
    with pytest.raises(ValueError, match="train_convention='6N'"):
        hs.SelectionConfig(fraction=0.1, train_convention="6N")
