"""One formatter for FLOPs, seconds and counts; SelectionCost prints as a small table and keeps to_dict()."""

import math

from hf_select.cost.formatting import format_count, format_flops, format_seconds, format_table
from hf_select.cost.record import SelectionCost, StageCost


def test_numbers():
    assert [format_flops(v) for v in (None, 0, 0.0, 1234.5, 3.7e17, math.inf)] == \
        ["n/a", "0", "0", "1.23e+03", "3.7e+17", "inf"]
    assert [format_seconds(v) for v in (None, 0.0, 59.9994, 60, 3599, 3600, 5400)] == \
        ["n/a", "0.000 s", "59.999 s", "1 min 0 s", "59 min 59 s", "1 h 0 min", "1 h 30 min"]
    assert format_count(12000) == "12,000" and format_count(None) == "n/a"
    text = format_table(["a", "bb"], [["xxx", 1], ["y", 22]]).splitlines()
    assert text == ["a    bb", "---  --", "xxx  1", "y    22"]


def test_selection_cost_prints_a_table_not_nested_dataclasses():
    cost = SelectionCost(stages=[StageCost("warmup_train", flops=1.2e12, seconds=3.4, tokens=4000),
                                 StageCost("checkpoint1/pool_gradients", flops=2.4e13, seconds=75.0, tokens=80000)],
                         train_flops=6e13, budget_flops=1e14, notes={"train_convention": "lora"})
    text = str(cost)
    lines = text.splitlines()
    assert lines[0].split() == ["stage", "FLOPs", "seconds", "tokens"]
    assert lines[2].split() == ["warmup_train", "1.2e+12", "3.400", "s", "4,000"]
    assert lines[3].split() == ["checkpoint1/pool_gradients", "2.4e+13", "1", "min", "15", "s", "80,000"]
    assert lines[4].split()[:2] == ["total", format_flops(cost.flops)]
    assert "predicted training: 6e+13 FLOPs (lora convention); selection + training: 8.52e+13 FLOPs" in text
    assert "budget: 1e+14 FLOPs" in text and "StageCost(" not in text
    assert SelectionCost.from_dict(cost.to_dict()) == cost and cost.to_dict()["flops"] == cost.flops
    assert str(SelectionCost()).splitlines()[-1].split() == ["total", "0", "0.000", "s", "0"]
