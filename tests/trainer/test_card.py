"""Cost summary -> JSON file and model-card section."""

import json

from hf_select.trainer.card import BEGIN, END, SUMMARY_FILE, cost_section, update_card_text, write_summary

SUMMARY = {"selector": "bm25", "num_selected": 5, "pool_rows": 50, "selection_flops": 0.0,
           "train_flops_predicted": 1.2e12, "train_flops_measured": 1.1e12, "total_flops": 1.1e12,
           "train_seconds": 3.5, "train_tokens": 900, "filter_drops": {"malformed/empty_completion": 2},
           "selection_repo": "me/my-selection", "hardware": {"cpu_count": 2}}


def test_section_contents():
    text = cost_section(SUMMARY)
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    assert "| rows selected / pool | 5 / 50 |" in text
    assert "| training FLOPs (predicted) | 1.2e+12 |" in text
    assert "https://huggingface.co/datasets/me/my-selection" in text
    assert "`malformed/empty_completion` 2" in text


def test_update_replaces_section(tmp_path):
    card = "---\nlicense: mit\n---\n# Model\n\nSome text.\n"
    once = update_card_text(card, SUMMARY)
    assert once.startswith(card) and once.count(BEGIN) == 1
    changed = update_card_text(once, {**SUMMARY, "num_selected": 7})
    assert changed.count(BEGIN) == 1 and "7 / 50" in changed and "5 / 50" not in changed
    (tmp_path / "README.md").write_text(card)
    path = write_summary(str(tmp_path), SUMMARY)
    assert path.endswith(SUMMARY_FILE)
    assert json.load(open(path))["train_tokens"] == 900
    assert BEGIN in (tmp_path / "README.md").read_text()
