"""The **cost card**: a dataset card (README.md) for a pushed selection, rendered from ``templates/cost_card.md``.

The YAML header has the standard dataset-card keys (license and, for ``other``, license_name / license_link,
task_categories, tags, size_categories, configs, source_datasets when the pool is a Hub dataset, ...) plus an
``hf_select:`` block with every number of the selection (selector and its config, strategy, size, FLOPs per stage,
predicted training FLOPs, seconds, hardware, versions, source, filter drops). The body
says what was selected and why, what it cost, how scores (and domains, when the pool has a ``domain`` column) are
distributed, under which licences the rows are (a note per package for the embedded pool), how to load it, and cites
Yin & Rush (ICLR 2025). Rendering, Hub links and parsing go through :mod:`hf_select.hub.render`; numbers through
:mod:`hf_select.cost.formatting`.

Example:
    >>> import yaml
    >>> import hf_select as hs
    >>> from hf_select.hub.card import render_cost_card, split_card
    >>> res = hs.select(["the cat sat", "dogs bark", "a cat and a dog", "stock prices fell"], "bm25",
    ...                 target=["cat"], k=2)
    >>> card = render_cost_card(res, repo_id="me/cats")
    >>> meta, body = split_card(card)
    >>> meta["hf_select"]["selector"], meta["hf_select"]["k"], "# bm25 selection" in body
    ('bm25', 2, True)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from ..cost.formatting import format_flops, format_seconds
from ._common import INDICES_FILE, SCORES_FILE, SELECTION_FILE, plain
from .licensing import license_metadata, package_licences
from .render import hub_url, parse_card, render_template

split_card = parse_card  # ``(metadata, body)`` of a README (kept under its earlier name)

SCORE_COLUMN = "hf_select_score"
BUILTIN_PREFIX = "hf_select-builtin-"  # fingerprint prefix of hf_select.load_builtin_pool() datasets
TEMPLATE = "cost_card.md"
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))
LARGEST_SIZE_CATEGORY = "n>1B"


@dataclass
class CardConfig:
    """Knobs of the cost card (none of them change the selection)."""

    license: str = field(default="unknown", metadata={"help": "Hub license id of the data (e.g. 'apache-2.0'); "
                                                               "'other' needs license_name and license_link."})
    license_name: str | None = field(default=None, metadata={"help": "With license='other': an id for the licence."})
    license_link: str | None = field(default=None, metadata={
        "help": "With license='other': 'LICENSE.md' (a file in the repo) or a URL to the licence text."})
    task_categories: list[str] = field(default_factory=lambda: ["text-generation"],
                                       metadata={"help": "Hub task categories of the data."})
    extra_tags: list[str] = field(default_factory=list, metadata={"help": "Tags added after hf-select/data-selection."})
    language: list[str] = field(default_factory=list, metadata={"help": "Language codes (e.g. ['en'])."})
    pretty_name: str | None = field(default=None, metadata={"help": "Title; default '<selector> selection of ...'."})
    domain_column: str = field(default="domain", metadata={"help": "Column whose distribution the card shows."})
    max_domains: int = field(default=12, metadata={"help": "Domains listed in the table (most selected first)."})
    plot_dpi: int = field(default=110, metadata={"help": "Resolution of the PNG plot."})
    plot_bins: int = field(default=40, metadata={"help": "Histogram bins of the score plot."})

    def __post_init__(self) -> None:
        license_metadata(self.license, license_name=self.license_name, license_link=self.license_link)


def size_category(n: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if n < limit:
            return name
    return LARGEST_SIZE_CATEGORY


def hf_select_metadata(result: Any, *, mode: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``hf_select:`` block of the card: every number needed to audit the selection, as plain YAML types."""
    cost, cfg, prov = result.cost, result.config, result.provenance
    source = source or {}
    return plain({
        "mode": mode,
        "selector": result.selector,
        "selector_config": cfg.get("selector_config", {}),
        "strategy": cfg.get("strategy"),
        "strategy_kwargs": cfg.get("strategy_kwargs", {}),
        "k": result.k,
        "fraction": float(result.fraction),
        "requested": {"k": cfg.get("k"), "fraction": cfg.get("fraction"), "budget_flops": cfg.get("budget_flops")},
        "seed": cfg.get("seed"),
        "target": cfg.get("target"),
        "cost": {
            "selection_flops": cost.flops,
            "selection_seconds": cost.seconds,
            "selection_tokens": cost.tokens,
            "stages": [{"name": s.name, "flops": s.flops, "seconds": s.seconds, "tokens": s.tokens}
                       for s in cost.stages],
            "train_flops_predicted": cost.train_flops,
            "total_flops": cost.total_flops,
            "budget_flops": cost.budget_flops,
            "train_model": cfg.get("train_model"),
            "train_epochs": cfg.get("train_epochs"),
            "train_convention": cfg.get("train_convention"),
        },
        "hardware": cost.hardware,
        "versions": prov.get("versions", {}),
        "source": {
            "dataset_id": source.get("repo_id") or prov.get("dataset_id"),
            "revision": source.get("revision") or prov.get("dataset_revision"),
            "split": source.get("split"),
            "fingerprint": prov.get("dataset_fingerprint"),
            "content_sha256": source.get("content_sha256"),
            "num_rows": prov.get("dataset_num_rows", len(result.scores)),
        },
        "filters": cfg.get("filters", []),
        "filter_drops": cfg.get("filter_drops", {}),
        "created_at": prov.get("created_at"),
    })


def card_metadata(result: Any, *, mode: str, data_configs: list[dict] | None = None,
                  dataset_info: Any = None, source: dict[str, Any] | None = None,
                  config: CardConfig | None = None) -> dict[str, Any]:
    """Full YAML header: standard dataset-card keys, ``configs`` (what ``load_dataset`` reads) and ``hf_select``."""
    config = config or CardConfig()
    meta: dict[str, Any] = license_metadata(config.license, license_name=config.license_name,
                                            license_link=config.license_link)
    if config.language:
        meta["language"] = list(config.language)
    meta.update({
        "pretty_name": _title(result, config),
        "task_categories": list(config.task_categories),
        "tags": ["hf-select", "data-selection", f"selector:{result.selector}", *config.extra_tags],
        "size_categories": [size_category(result.k)],
    })
    hub_source = (source or {}).get("repo_id") or result.provenance.get("dataset_id")
    if hub_source and "/" in str(hub_source):  # a local pool is not claimed as "original": the body names it
        meta["source_datasets"] = [hub_source]
    if dataset_info is not None:
        meta["dataset_info"] = dataset_info
    meta["configs"] = data_configs if data_configs is not None else [
        {"config_name": "default", "data_files": [{"split": "train", "path": INDICES_FILE}]}]
    meta["hf_select"] = hf_select_metadata(result, mode=mode, source=source)
    return meta


def render_cost_card(result: Any, *, repo_id: str, mode: str = "subset", dataset: Any = None, subset: Any = None,
                     data_configs: list[dict] | None = None, dataset_info: Any = None,
                     source: dict[str, Any] | None = None, plot_file: str | None = None,
                     config: CardConfig | None = None) -> str:
    """Render the cost card README for ``result`` pushed to ``repo_id``.

    Args:
        result: the :class:`~hf_select.SelectionResult`.
        repo_id: where the card lives (used in the "how to load" snippet).
        mode: ``"subset"`` (rows in the repo) or ``"indices"`` (indices only).
        dataset: the pool, for the domain table (default: ``result.dataset``).
        subset: the selected rows, for the domain table when the pool is not at hand.
        data_configs / dataset_info: the ``configs`` / ``dataset_info`` YAML written by ``datasets`` for the data files.
        source: ``{"repo_id", "revision", "split", "content_sha256"}`` of the pool when known.
        plot_file: path in the repo of the PNG plot, if one is pushed.
        config: :class:`CardConfig`.
    """
    import yaml

    config = config or CardConfig()
    meta = card_metadata(result, mode=mode, data_configs=data_configs, dataset_info=dataset_info, source=source,
                         config=config)
    hsm = meta["hf_select"]
    cost = result.cost
    pool = dataset if dataset is not None else result.dataset
    selection_share = cost.flops / cost.total_flops if cost.total_flops else None
    context = {
        "yaml_metadata": yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=120).strip(),
        "title": meta["pretty_name"], "k": result.k, "pool_rows": len(result.scores), "fraction": result.fraction,
        "mode": mode, "repo_id": repo_id, "selector": result.selector, "selector_doc": _selector_doc(result.selector),
        "strategy": hsm["strategy"], "strategy_kwargs": _kv(hsm["strategy_kwargs"]), "seed": hsm["seed"],
        "size_rule": _size_rule(result), "target_label": _target_label(hsm["target"]),
        "source_label": _source_label(hsm["source"]), "source_revision": hsm["source"]["revision"],
        "source_fingerprint": hsm["source"]["content_sha256"] or hsm["source"]["fingerprint"],
        "filters_label": _filters_label(hsm["filters"], hsm["filter_drops"]),
        "selector_config_yaml": yaml.safe_dump(hsm["selector_config"], sort_keys=False).strip() or "{}",
        "stages": [{"name": s.name, "flops": format_flops(s.flops), "seconds": format_seconds(s.seconds),
                    "tokens": s.tokens} for s in cost.stages],
        "selection_flops": format_flops(cost.flops), "selection_seconds": format_seconds(cost.seconds),
        "selection_tokens": cost.tokens, "train_flops": format_flops(cost.train_flops),
        "total_flops": format_flops(cost.total_flops), "budget_flops": cost.budget_flops and format_flops(cost.budget_flops),
        "cost_sentence": _cost_sentence(cost, selection_share),
        "hardware_label": _hardware_label(cost.hardware), "versions_label": _kv(hsm["versions"]) or "unknown",
        "score_rows": _score_rows(result), "domains": _domains(result, pool, subset, config),
        "plot_file": plot_file, "score_column": SCORE_COLUMN, "selection_file": SELECTION_FILE,
        "indices_file": INDICES_FILE, "scores_file": SCORES_FILE, "license": meta["license"],
        "license_name": meta.get("license_name"), "license_link": meta.get("license_link"),
        "package_licences": _package_licences(result, pool, subset, hsm["source"]),
    }
    return render_template(TEMPLATE, **context)


def cost_summary_markdown(selection: Any, repo_id: str) -> str:
    """A markdown line for a *model* card trained on a pushed selection: links the repo, repeats the cost summary.

    Args:
        selection: a ``SelectionResult`` or the ``hf_select`` block of the selection's card (a dict).
        repo_id: the dataset repo the selection was pushed to.

    Example:
        >>> print(cost_summary_markdown({"selector": "bm25", "k": 10, "cost": {"selection_flops": 0.0,
        ...       "selection_seconds": 0.5, "train_flops_predicted": None, "total_flops": 0.0}}, "me/sel"))
        Trained on [me/sel](.../datasets/me/sel): 10 rows selected by `bm25` for 0 FLOPs (0.500 s); predicted training: n/a; total: 0 FLOPs.
    """
    meta = selection if isinstance(selection, dict) else hf_select_metadata(selection, mode="subset")
    c = meta.get("cost", {})
    return (f"Trained on [{repo_id}]({hub_url(repo_id)}): {meta.get('k')} rows selected by "
            f"`{meta.get('selector')}` for {format_flops(c.get('selection_flops'))} FLOPs "
            f"({format_seconds(c.get('selection_seconds') or 0)}); predicted training: "
            f"{format_flops(c.get('train_flops_predicted'))}; total: {format_flops(c.get('total_flops'))} FLOPs.")


def selection_plot_png(result: Any, config: CardConfig | None = None) -> bytes | None:
    """PNG: score histogram of the pool vs the selection, and selection seconds/FLOPs by stage (None w/o matplotlib)."""
    from ..import_utils import is_matplotlib_available

    if not is_matplotlib_available():
        return None
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    config = config or CardConfig()
    scores = np.asarray(result.scores, dtype=float)
    finite = np.isfinite(scores)
    fig = Figure(figsize=(9, 3.2))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    if finite.any():
        bins = np.histogram_bin_edges(scores[finite], bins=config.plot_bins)
        ax1.hist(scores[finite], bins=bins, color="#bbbbbb", label=f"pool ({int(finite.sum())})")
        chosen = scores[result.indices]
        ax1.hist(chosen[np.isfinite(chosen)], bins=bins, color="#ff7f0e", label=f"selected ({result.k})")
        ax1.legend(fontsize=8)
        ax1.set_yscale("log")
    ax1.set_xlabel("score")
    ax1.set_ylabel("rows (log)")
    ax1.set_title(f"{result.selector}: scores", fontsize=10)
    names = [s.name for s in result.cost.stages] or ["(none)"]
    secs = [s.seconds for s in result.cost.stages] or [0.0]
    ax2.barh(names, secs, color="#1f77b4")
    for y, s in enumerate(result.cost.stages):
        ax2.annotate(f"{format_flops(s.flops)} FLOPs", (s.seconds, y), fontsize=7, va="center",
                     xytext=(3, 0), textcoords="offset points")
    ax2.set_xlabel("seconds")
    ax2.set_title(f"selection cost: {format_flops(result.cost.flops)} FLOPs, {format_seconds(result.cost.seconds)}",
                  fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=config.plot_dpi, metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------------
def _title(result: Any, config: CardConfig) -> str:
    return config.pretty_name or f"{result.selector} selection of {result.k} rows"


def _kv(d: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (d or {}).items())


def _selector_doc(name: str) -> str:
    try:
        from ..selectors.base import get_selector_class

        doc = (get_selector_class(name).__doc__ or "").strip().splitlines()
    except (ValueError, ImportError):
        return ""
    return doc[0].strip() if doc else ""


def _size_rule(result: Any) -> str:
    cfg = result.config
    if cfg.get("budget_flops") is not None:
        return (f"k = {result.k}: the most rows whose predicted training fits in the {format_flops(cfg['budget_flops'])}"
                f" FLOP budget after selection ({cfg.get('train_model')}, {cfg.get('train_epochs')} epoch(s))")
    if cfg.get("fraction") is not None:
        return f"fraction = {cfg['fraction']} of the pool -> k = {result.k}"
    if cfg.get("k") is not None:
        return f"k = {result.k}"
    return f"k = {result.k} (set by the strategy)"


def _target_label(target: dict[str, Any] | None) -> str:
    if not target:
        return "none (the selector does not use target examples)"
    return f"{target.get('num_rows')} example(s) (fingerprint `{target.get('fingerprint')}`)"


def _source_label(source: dict[str, Any]) -> str:
    sid = source.get("dataset_id")
    if sid and "/" in str(sid):
        return f"[{sid}]({hub_url(sid)})"
    if _is_builtin(source):
        return "the hf_select embedded pool, `hf_select.load_builtin_pool()`"
    return f"`{sid}`" if sid else "a local pool"


def _is_builtin(source: dict[str, Any]) -> bool:
    return str(source.get("fingerprint") or "").startswith(BUILTIN_PREFIX)


def _package_licences(result: Any, pool: Any, subset: Any, source: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-package licences of the selected rows when they come from the embedded pool (else ``[]``)."""
    if not _is_builtin(source):
        return []
    if pool is not None and "domain" in getattr(pool, "column_names", []):
        column = pool["domain"]
        return package_licences([column[int(i)] for i in result.indices])
    if subset is not None and "domain" in getattr(subset, "column_names", []):
        return package_licences(list(subset["domain"]))
    return []


def _filters_label(filters: list, drops: dict[str, int]) -> str:
    if not filters and not drops:
        return "none"
    dropped = ", ".join(f"{reason}: {n}" for reason, n in drops.items()) or "no rows dropped"
    return f"{', '.join(map(str, filters)) or 'filters'} (dropped {dropped})"


def _hardware_label(hw: dict[str, Any]) -> str:
    parts = [str(hw.get("gpu") or hw.get("processor") or "unknown hardware")]
    if hw.get("cpu_count"):
        parts.append(f"{hw['cpu_count']} CPU cores")
    if hw.get("torch"):
        parts.append(f"torch {hw['torch']}")
    return ", ".join(parts)


def _cost_sentence(cost: Any, share: float | None) -> str:
    if cost.train_flops is None:
        return ("Training FLOPs were not predicted (no budget or train model given), so the total counts selection "
                "only; select with `budget_flops=` and `train_model=` to have both.")
    from ..cost.convention import describe_train_convention

    convention = cost.notes.get("train_convention")
    return (f"Selection is {100 * (share or 0):.2f} % of the total compute; in the compute-constrained view the "
            f"method is worth it only if this subset beats a cheaper selection trained on the FLOPs it saved."
            + (f" Training FLOPs: {describe_train_convention(convention)}." if convention else ""))


def _stats(values: Any) -> dict[str, str]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"min": "n/a", "median": "n/a", "mean": "n/a", "max": "n/a"}
    return {"min": f"{v.min():.4g}", "median": f"{np.median(v):.4g}", "mean": f"{v.mean():.4g}",
            "max": f"{v.max():.4g}"}


def _score_rows(result: Any) -> list[dict[str, str]]:
    return [{"name": f"Pool ({len(result.scores)} rows)", **_stats(result.scores)},
            {"name": f"Selected ({result.k} rows)", **_stats(result.scores[result.indices])}]


def _domains(result: Any, pool: Any, subset: Any, config: CardConfig) -> list[dict[str, Any]]:
    """Domain mix of the selection (and of the pool when it is at hand), most selected first."""
    from collections import Counter

    col = config.domain_column
    if pool is not None and col in getattr(pool, "column_names", []):
        column = pool[col]
        everywhere = Counter(column)
        chosen = Counter(column[int(i)] for i in result.indices)
        total = len(column)
    elif subset is not None and col in getattr(subset, "column_names", []):
        chosen, everywhere, total = Counter(subset[col]), None, 0
    else:
        return []
    return [{"name": name, "count": n, "share": f"{100 * n / max(result.k, 1):.1f} %",
             "pool_share": f"{100 * everywhere[name] / max(total, 1):.1f} %" if everywhere is not None else "n/a"}
            for name, n in chosen.most_common(config.max_domains)]
