"""The model card of a selective training run: its metadata and a cost section, plus the JSON record in ``output_dir``.

- :func:`cost_section` renders the section (template ``hub/templates/model_card_cost.md``, the same Jinja environment
  as the dataset cost card) from a :class:`~hf_select.trainer.reporting.CostSummary`.
- :func:`finalize_card` is applied after every save: the card keeps ``model_name``, the ``hf-select`` tag (PEFT's
  save rewrites the tags) and a *public* ``base_model`` (a Hub id, never a local cache path: see
  :func:`public_model_id`), and gets the cost section.
- :func:`default_model_name` names the model as ``trl.SFTTrainer`` does when it writes its card.

Example:
    >>> from hf_select.trainer.card import cost_section, update_card_text
    >>> from hf_select.trainer.reporting import CostSummary
    >>> summary = CostSummary(selector="bm25", num_selected=10, pool_rows=100, train_flops_measured=5.9e12,
    ...                       total_flops=5.9e12)
    >>> "| training FLOPs (measured) | 5.9e+12 |" in cost_section(summary)
    True
    >>> text = update_card_text("# My model\\n", summary)
    >>> update_card_text(text, summary) == text       # the section is replaced, not appended twice
    True
    >>> public_model_id("HuggingFaceTB/SmolLM2-135M-Instruct")
    'HuggingFaceTB/SmolLM2-135M-Instruct'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

SUMMARY_FILE = "hf_select_cost.json"
README_FILE = "README.md"
ADAPTER_CONFIG = "adapter_config.json"
BEGIN = "<!-- hf_select:cost:begin -->"
END = "<!-- hf_select:cost:end -->"
TEMPLATE = "model_card_cost.md"
SCHEMA_VERSION = 2
TAG = "hf-select"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the model behind hf_select's offline SmolLM2 copy
_HUB_CACHE_SNAPSHOT = re.compile(r"models--([^/]+)--([^/]+)/snapshots/")


def cost_section(summary: Any) -> str:
    """Markdown section (between :data:`BEGIN` / :data:`END`) with the selection and training cost of a run."""
    from ..hub.render import render_template

    drops = ", ".join(f"`{k}` {v}" for k, v in sorted((summary.filter_drops or {}).items()))
    hardware = ", ".join(f"{k}={v}" for k, v in sorted((summary.hardware or {}).items()))
    return render_template(TEMPLATE, begin=BEGIN, end=END, rows=summary.rows(), drops=drops, hardware=hardware,
                           total_flos_note=summary.total_flos_note, selection_repo=summary.selection_repo,
                           summary_file=SUMMARY_FILE)


def update_card_text(text: str, summary: Any) -> str:
    """``text`` with its hf_select section replaced (or appended when it has none)."""
    section = cost_section(summary)
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end != -1 and end > start:
        return text[:start] + section + text[end + len(END):].lstrip("\n")
    sep = "" if text.endswith("\n\n") or not text else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + section


def write_summary(output_dir: str, summary: Any) -> str:
    """Write ``hf_select_cost.json`` (the :class:`CostSummary` as JSON) into ``output_dir``; returns its path."""
    from ..atomic import write_text_atomic

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, SUMMARY_FILE)
    write_text_atomic(path, json.dumps({"schema_version": SCHEMA_VERSION, **summary.to_dict()}, indent=2,
                                       default=repr) + "\n")
    return path


def default_model_name(args: Any) -> str:
    """The model name ``trl.SFTTrainer`` puts in its card: the ``hub_model_id``'s name, else ``output_dir``'s."""
    hub_model_id = getattr(args, "hub_model_id", None)
    return hub_model_id.split("/")[-1] if hub_model_id else Path(args.output_dir).name


def public_model_id(name_or_path: Any) -> str | None:
    """The Hub id of a model known by ``name_or_path``; ``None`` for a local model of unknown origin.

    A Hub id is returned as is; a snapshot folder of the Hugging Face cache gives its repo id; hf_select's offline
    SmolLM2 copy (:func:`~hf_select.scoring.models.smollm2_local_path`) gives ``HuggingFaceTB/SmolLM2-135M-Instruct``.
    """
    if not name_or_path:
        return None
    path = os.fspath(name_or_path)
    if not os.path.isdir(path):
        return path
    found = _HUB_CACHE_SNAPSHOT.search(os.path.abspath(path).replace(os.sep, "/"))
    if found:
        return f"{found.group(1)}/{found.group(2)}"
    return SMOLLM2_HUB_ID if _is_offline_smollm2(path) else None


def _is_offline_smollm2(path: str) -> bool:
    """Whether ``path`` is the converted SmolLM2 folder (checked only inside hf_select's model cache: no conversion)."""
    from ..scoring.models import cache_root

    models = (cache_root() / "models").resolve()
    if Path(path).resolve().parent != models:
        return False
    try:
        from ..scoring.models import smollm2_local_path

        return Path(smollm2_local_path()).resolve() == Path(path).resolve()
    except (ImportError, FileNotFoundError):
        return False


def base_config(model: Any) -> Any:
    """The config of ``model``'s base model (through a peft wrapper)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "config", None)


@contextlib.contextmanager
def public_base_model(model: Any) -> Iterator[str | None]:
    """While open, the base model and its config name the public base model id (what TRL's card generator reads for
    ``base_model`` and its "fine-tuned version of" line); the local path is put back on exit. Yields the public id.

    Saves are not wrapped (PEFT would then look the public id up on the Hub): :func:`finalize_card` fixes what they
    wrote instead.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    local = getattr(config, "_name_or_path", None)
    public = public_model_id(local)
    holders = [(obj, name, getattr(obj, name)) for obj, name in ((config, "_name_or_path"), (base, "name_or_path"))
               if obj is not None and hasattr(obj, name)]
    try:
        if public and public != local:
            for obj, name, _ in holders:
                setattr(obj, name, public)
        yield public
    finally:
        for obj, name, value in holders:
            setattr(obj, name, value)


def _public_tag(tag: str, local: str | None, public: str | None) -> str | None:
    """PEFT's ``base_model:adapter:<local path>`` tag with the public id (``None``: drop it, the Hub rejects paths)."""
    prefix, _, name = tag.rpartition(":")
    if not tag.startswith("base_model:") or not (name == local or os.path.isabs(name)):
        return tag
    return f"{prefix}:{public}" if public else None


def _fix_adapter_config(output_dir: str, local: str | None, public: str | None) -> None:
    path = os.path.join(output_dir, ADAPTER_CONFIG)
    if not (public and local and os.path.exists(path)):
        return
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("base_model_name_or_path") == local:
        from ..atomic import write_text_atomic

        config["base_model_name_or_path"] = public
        write_text_atomic(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def finalize_card(output_dir: str, summary: Any, *, model_name: str, local_path: str | None = None) -> None:
    """After a save into ``output_dir``: name the public base model (card metadata, PEFT's adapter tag,
    ``adapter_config.json``; a local path is dropped), keep ``model_name`` and the ``hf-select`` tag (PEFT's save
    rewrites the tags), and put the cost section in. No-op for files that are not there."""
    from huggingface_hub import ModelCard

    from ..atomic import write_text_atomic

    public = summary.base_model
    _fix_adapter_config(output_dir, local_path, public)
    readme = os.path.join(output_dir, README_FILE)
    if not os.path.exists(readme):
        return
    card = ModelCard.load(readme)
    data = card.data
    if not getattr(data, "model_name", None):
        data.model_name = model_name
    tags = [t for t in (_public_tag(t, local_path, public) for t in data.tags or []) if t]
    data.tags = tags + [TAG] if TAG not in tags else tags
    if public:
        data.base_model = public
    elif isinstance(getattr(data, "base_model", None), str) and os.path.isdir(data.base_model):
        data.base_model = None  # a local path is not a Hub id: the Hub rejects it
    card.text = update_card_text(card.text, summary)
    write_text_atomic(readme, str(card))
