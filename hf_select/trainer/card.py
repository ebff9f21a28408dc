"""The measured cost summary of a selective training run: JSON in ``output_dir`` and a section of the model card.

Example:
    >>> from hf_select.trainer.card import cost_section, update_card_text
    >>> summary = {"selector": "bm25", "num_selected": 10, "pool_rows": 100, "selection_flops": 0.0,
    ...            "train_flops_predicted": 6e12, "train_flops_measured": 5.9e12, "total_flops": 5.9e12,
    ...            "selection_seconds": 0.2, "train_seconds": 30.0, "train_tokens": 12000, "hardware": {"cpu_count": 2}}
    >>> "| training FLOPs (measured) | 5.9e+12 |" in cost_section(summary)
    True
    >>> text = update_card_text("# My model\\n", summary)
    >>> update_card_text(text, summary) == text       # the section is replaced, not appended twice
    True
"""

from __future__ import annotations

import json
import os
from typing import Any

SUMMARY_FILE = "hf_select_cost.json"
BEGIN = "<!-- hf_select:cost:begin -->"
END = "<!-- hf_select:cost:end -->"
SCHEMA_VERSION = 1


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1e4 or value == 0 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _train_convention(name: str | None) -> str | None:
    from ..cost.convention import describe_train_convention

    return None if name is None else describe_train_convention(name)


def cost_section(summary: dict[str, Any]) -> str:
    """Markdown section (between markers) with the selection and training cost of a run."""
    rows = [
        ("selector", summary.get("selector")),
        ("rows selected / pool", f"{summary.get('num_selected')} / {summary.get('pool_rows')}"),
        ("selection FLOPs", summary.get("selection_flops")),
        ("re-selections", summary.get("reselections")),
        ("training FLOPs (predicted)", summary.get("train_flops_predicted")),
        ("training FLOPs (measured)", summary.get("train_flops_measured")),
        ("total FLOPs (selection + training)", summary.get("total_flops")),
        ("budget FLOPs", summary.get("budget_flops")),
        ("stopped by budget at step", summary.get("budget_stop_step")),
        ("selection seconds", summary.get("selection_seconds")),
        ("training seconds", summary.get("train_seconds")),
        ("training tokens", summary.get("train_tokens")),
        ("FLOP convention", summary.get("flops_convention")),
        ("training FLOP convention", _train_convention(summary.get("train_convention"))),
    ]
    lines = [BEGIN, "## Data selection and compute (hf_select)", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in rows if value is not None]
    drops = summary.get("filter_drops") or {}
    if drops:
        lines += ["", "Rows removed by filters before selection: "
                  + ", ".join(f"`{k}` {v}" for k, v in sorted(drops.items())) + "."]
    repo = summary.get("selection_repo")
    if repo:
        lines += ["", f"Selection: [{repo}](https://huggingface.co/datasets/{repo})."]
    hw = summary.get("hardware") or {}
    if hw:
        lines += ["", "Hardware: " + ", ".join(f"{k}={v}" for k, v in sorted(hw.items())) + "."]
    lines += ["", f"Full record: `{SUMMARY_FILE}`.", END]
    return "\n".join(lines) + "\n"


def update_card_text(text: str, summary: dict[str, Any]) -> str:
    """``text`` with its hf_select section replaced (or appended when it has none)."""
    section = cost_section(summary)
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end != -1 and end > start:
        return text[:start] + section + text[end + len(END):].lstrip("\n")
    sep = "" if text.endswith("\n\n") or not text else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + section


def write_summary(output_dir: str, summary: dict[str, Any], *, update_card: bool = True) -> str:
    """Write ``hf_select_cost.json`` into ``output_dir`` and update ``README.md`` there when it exists."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, SUMMARY_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"schema_version": SCHEMA_VERSION, **summary}, f, indent=2, default=repr)
        f.write("\n")
    readme = os.path.join(output_dir, "README.md")
    if update_card and os.path.exists(readme):
        add_to_card(readme, summary)
    return path


def add_to_card(readme_path: str, summary: dict[str, Any]) -> None:
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(update_card_text(text, summary))
