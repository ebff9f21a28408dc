"""Cost summary -> JSON file and model-card section."""

import json

from hf_select.trainer.card import (BEGIN, END, SUMMARY_FILE, cost_section, public_model_id, update_card_text,
                                    write_summary)
from hf_select.trainer.reporting import CostSummary

SUMMARY = CostSummary(selector="bm25", num_selected=5, pool_rows=50, selection_flops=0.0,
                      train_flops_predicted=1.2e12, train_flops_measured=1.1e12, total_flops=1.1e12,
                      train_seconds=3.5, train_tokens=900, filter_drops={"malformed/empty_completion": 2},
                      selection_repo="me/my-selection", hardware={"cpu_count": 2}, train_convention="lora")


def test_section_contents():
    text = cost_section(SUMMARY)
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    assert "| rows selected / pool | 5 / 50 (10.0 %) |" in text
    assert "| training FLOPs (predicted) | 1.2e+12 |" in text
    assert "| training FLOP convention | lora (4N + 6L FLOPs per training token" in text
    assert "| parameters counted (N) | all parameters" in text
    assert "/datasets/me/my-selection)" in text
    assert "`malformed/empty_completion` 2" in text
    assert "total_flos" in text  # the relation to transformers' count is stated


def test_update_replaces_section(tmp_path):
    card = "---\nlicense: mit\n---\n# Model\n\nSome text.\n"
    once = update_card_text(card, SUMMARY)
    assert once.startswith(card) and once.count(BEGIN) == 1
    changed = update_card_text(once, CostSummary(**{**SUMMARY.__dict__, "num_selected": 7}))
    assert changed.count(BEGIN) == 1 and "7 / 50" in changed and "5 / 50" not in changed
    path = write_summary(str(tmp_path), SUMMARY)
    assert path.endswith(SUMMARY_FILE)
    record = json.load(open(path))
    assert record["train_tokens"] == 900 and record["fraction"] == 0.1 and record["schema_version"] >= 2


def test_summary_prints_a_table():
    text = str(SUMMARY)
    assert text.splitlines()[0] == "hf_select cost summary"
    assert any(line.startswith("training FLOPs (measured)") and line.endswith("1.1e+12") for line in text.splitlines())
    assert "note: transformers' total_flos" in text


def test_public_model_id(tmp_path):
    assert public_model_id("org/model") == "org/model"
    assert public_model_id(None) is None
    snapshot = tmp_path / "hub" / "models--org--name" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    assert public_model_id(str(snapshot)) == "org/name"
    assert public_model_id(str(tmp_path)) is None  # a local folder of unknown origin
