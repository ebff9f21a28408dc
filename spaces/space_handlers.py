"""What the Space's buttons do: load the pool and target, plan, select, render the cost card, push.

Only hf_select's public API is used (``hf_select``, ``hf_select.cost``, ``hf_select.data``, ``hf_select.hub``). Every
handler returns messages for errors (``**Error:** ...``), never a traceback. The Space is a server other people use: a
Hub dataset id must be a valid ``namespace/name`` repo id and is only ever read from the Hub (never as a path on this
machine); uploads and pasted text have size limits; the push token is checked for its characters and never logged,
returned or shown, in any form.

Example:
    >>> from space_handlers import budget_in_flops
    >>> f"{budget_in_flops('GPU-hours', 2, 'A100', 0.5):.3e}"
    '1.123e+18'
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import hf_select as hs  # noqa: E402
from space_data import load_pool, load_target  # noqa: E402  (beside this file) the pool and target, Hub ids checked

logger = logging.getLogger("hf_select.space")

LIVE_SELECTORS = ("bm25", "embedding", "dsir", "random")  # cheap enough to run on the Space's CPU
PLAN_METHODS = ("random", "bm25", "embedding", "dsir", "perplexity", "less")
BUDGET_UNITS = ("FLOPs", "GPU-hours")
# Labels of the BM25 selector's `punctuation` modes; the Space's default is the library's (BM25Config).
BM25_TOKEN_LABELS = {"delete": "delete punctuation (the paper's)", "space": "split at punctuation (keeps dotted names)",
                     "keep": "keep punctuation"}
PREVIEW_REPO_ID = "your-user/your-selection"
_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, ImportError, KeyError)
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_\-]{8,512}")  # what Hugging Face access tokens are made of


@dataclass
class SpaceConfig:
    """Limits and defaults of the Space.

    Env overrides: ``HF_SELECT_SPACE_MAX_ROWS`` (pool row cap), ``HF_SELECT_SPACE_MAX_UPLOAD_MB`` (upload limit),
    ``HF_SELECT_SPACE_MAX_PASTE_CHARS`` (pasted text limit).
    """

    max_pool_rows: int = field(default=10_000, metadata={"help": "Row cap of every pool (embedded, uploaded, Hub)."})
    max_upload_mb: float = field(default=50.0, metadata={"help": "Largest accepted pool / target upload, in MB "
                                                                  "(gradio refuses larger ones before storing them)."})
    max_paste_chars: int = field(default=100_000, metadata={"help": "Largest pasted target text, in characters."})
    cache_sweep_seconds: int = field(default=600, metadata={"help": "How often uploaded files are swept away."})
    cache_max_age_seconds: int = field(default=3600, metadata={"help": "Age at which an uploaded file is deleted."})
    default_fraction: float = field(default=0.1, metadata={"help": "Initial fraction of the pool Select keeps."})
    top_rows: int = field(default=10, metadata={"help": "Top rows shown per selector."})
    preview_chars: int = field(default=200, metadata={"help": "Characters of each row shown in the table."})
    train_params: float = field(default=7e9, metadata={"help": "Initial parameter count of the model to train."})
    selector_params: float = field(default=1.35e8, metadata={"help": "Initial params of the perplexity/LESS model."})
    budget_flops: float = field(default=1e15, metadata={"help": "Initial budget in FLOPs."})
    budget_gpu_hours: float = field(default=1.0, metadata={"help": "Initial budget in GPU-hours."})
    mfu: float = field(default=0.4, metadata={"help": "Initial model FLOPs utilisation for GPU-hour budgets."})
    gain_rates: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "Overrides of the utility gain rates; default hf_select.cost.THEORY_GAIN_RATES (the theory "
                          "figure of Yin & Rush: random 5, lexicon 10, perplexity 40, gradient 80)."})
    train_convention: str = field(default="full", metadata={
        "help": "Training-FLOP convention of the plan: 'full' (6N per token, the paper's) or 'lora' (4N + 6L)."})
    target_examples: int = field(default=50, metadata={"help": "Target examples assumed by the plan (LESS, embed)."})
    chars_per_token: float = field(default=4.0, metadata={"help": "Characters per token when counting pool tokens."})
    mean_tokens_guess: float = field(default=200.0, metadata={"help": "Tokens per example when only a total is given."})

    @classmethod
    def from_env(cls, **overrides: Any) -> "SpaceConfig":
        env = {"max_pool_rows": ("HF_SELECT_SPACE_MAX_ROWS", int),
               "max_upload_mb": ("HF_SELECT_SPACE_MAX_UPLOAD_MB", float),
               "max_paste_chars": ("HF_SELECT_SPACE_MAX_PASTE_CHARS", int)}
        values = {name: cast(os.environ[var]) for name, (var, cast) in env.items() if os.environ.get(var)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# ---------------------------------------------------------------------------------------------------------------- plan
def parse_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A positive number from a field that may hold text like ``"7e9"`` or ``"1.5e18"``."""
    try:
        number = float(str(value).replace(",", "").replace("_", "").strip())
    except ValueError:
        raise ValueError(f"{name} must be a number such as 7e9, got {value!r}.") from None
    if not (number >= 0 if allow_zero else number > 0) or number != number or number == float("inf"):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}.")
    return number


def budget_in_flops(unit: str, budget: Any, gpu: str, mfu: Any, n_gpus: Any = 1) -> float:
    """The budget in FLOPs: as given, or GPU-hours x the preset's peak FLOP/s x MFU x number of GPUs."""
    budget = parse_positive(budget, "Budget")
    if unit == BUDGET_UNITS[0]:
        return budget
    if unit != BUDGET_UNITS[1]:
        raise ValueError(f"Budget unit {unit!r} is not one of {BUDGET_UNITS}.")
    if not gpu:
        raise ValueError("Pick a GPU preset for a budget in GPU-hours.")
    from hf_select.cost.hardware import gpu_hours_to_flops

    return float(gpu_hours_to_flops(budget, gpu, mfu=float(mfu), n_gpus=max(1, int(n_gpus or 1))))


def method_profiles(methods: list[str], *, pool_tokens: float, n_pool: int, train_params: float,
                    selector_params: float, cfg: SpaceConfig) -> Any:
    """Planner inputs from :func:`hf_select.cost.profiles.default_profiles`, the map ``hf-select plan`` uses too."""
    from hf_select.cost.profiles import default_profiles

    return default_profiles(methods, train_model=train_params, selector_model=selector_params, pool_tokens=pool_tokens,
                            n_pool=n_pool, n_target=cfg.target_examples, gain_rates=cfg.gain_rates,
                            train_convention=cfg.train_convention)


def run_plan(pool_source, max_rows, pool_file, hub_id, hub_split, methods, unit, budget, gpu, mfu, n_gpus,
             train_params, selector_params, pool_tokens, *, cfg: SpaceConfig):
    """Plan handler: (plot path, recommendation markdown, table)."""
    try:
        if not methods:
            raise ValueError("Pick at least one method to plan for.")
        flops = budget_in_flops(unit, budget, gpu, mfu, n_gpus)
        train_params = parse_positive(train_params, "Trained model params")
        selector_params = parse_positive(selector_params, "Selector model params")
        tokens = parse_positive(pool_tokens or 0, "Pool tokens", allow_zero=True)
        if tokens > 0:
            n_pool, pool_note = max(1, int(tokens / cfg.mean_tokens_guess)), "as entered"
        else:
            pool = load_pool(pool_source, max_rows, pool_file, hub_id, hub_split, cfg)
            tokens = sum(len(t) for t in hs.text_view(pool, "full")) / cfg.chars_per_token
            n_pool, pool_note = pool.num_rows, f"{pool.num_rows:,} rows of the chosen pool"
        inputs = method_profiles(list(methods), pool_tokens=tokens, n_pool=n_pool, train_params=train_params,
                                 selector_params=selector_params, cfg=cfg)
        profiles, full = inputs.profiles, inputs.train_flops_full
        from hf_select.cost import plan
        from hf_select.cost.formatting import format_flops
        from hf_select.cost.planner import NO_SELECTION
        from hf_select.cost.plots import plot_plan

        best = plan(flops, profiles, train_flops_full=full)
        path = plot_plan(profiles, os.path.join(tempfile.mkdtemp(prefix="hf_select_space_"), "plan.png"),
                         train_flops_full=full, budget_flops=flops)
        table = plan_table(best)
        ratio = f"{flops / full:.1%}" if flops < full else f"{flops / full:.3g}x"
        head = (f"Budget **{format_flops(flops)} FLOPs** = {ratio} of training on the whole pool (~{tokens:,.0f} "
                f"tokens, {pool_note}; {format_flops(full)} FLOPs).")
        if best.method == NO_SELECTION:
            md = (f"### Recommended: **train on everything, no selection**\n\n{head} At this budget every method "
                  "would train on the same data as no selection, so selection would only add cost; it pays off "
                  "below the full-pool cost (left part of the plot).")
        else:
            md = (f"### Recommended: **{best.method}**\n\n{head} **{best.method}** spends "
                  f"{format_flops(best.selection_flops)} FLOPs on selection and trains on {best.fraction:.1%} of the "
                  f"pool, for a predicted **{best.predicted:.1f}** / 100.")
        md += "\n\n" + "  \n".join(inputs.describe()) + "  \nFit your own gain rates with `hf-select plan --runs`."
        return path, md, table
    except _USER_ERRORS as exc:
        return None, _error_md(exc), []
    except Exception as exc:  # never a traceback in the UI
        logger.exception("plan failed")
        return None, _error_md(exc, unexpected=True), []


def plan_table(result: Any) -> list[list[str]]:
    """The plan's rows as the Space shows them (method, selection and training FLOPs, fraction, predicted, note)."""
    from hf_select.cost.formatting import format_flops

    return [[r.method, format_flops(r.selection_flops), format_flops(r.train_flops) if r.feasible else "-",
             f"{r.fraction:.4f}" if r.feasible else "-", f"{r.predicted:.2f}" if r.feasible else "-",
             r.reason or r.note or "feasible"] for r in result.table]


# -------------------------------------------------------------------------------------------------------------- select
def _preview(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def domain_mix(domains: list[str], results: dict[str, Any]) -> list[list[Any]]:
    """Rows ``[domain, share in the pool, share in each selection...]``, most common domain of the pool first."""
    mixes = {name: Counter(domains[int(i)] for i in res.indices) for name, res in results.items()}
    return [[d, round(c / len(domains), 4)] + [round(mixes[n][d] / max(r.k, 1), 4) for n, r in results.items()]
            for d, c in Counter(domains).most_common()]


def card_preview(result: Any, repo_id: str = "", mode: str = "subset") -> str:
    """The cost card README that Push would upload for ``result``: the body, then its YAML header as a code block."""
    import yaml

    from hf_select.hub.card import render_cost_card, split_card

    text = render_cost_card(result, repo_id=(repo_id or "").strip() or PREVIEW_REPO_ID, mode=mode or "subset")
    meta, body = split_card(text)
    return f"{body.strip()}\n\n<details><summary>YAML metadata</summary>\n\n```yaml\n" \
           f"{yaml.safe_dump(meta, sort_keys=False, width=120).strip()}\n```\n</details>\n"


def bm25_token_choices() -> tuple[list[tuple[str, str]], str]:
    """``([(label, punctuation mode), ...], the library's default mode)`` for the BM25 tokens radio."""
    import dataclasses

    from hf_select.selectors.base import get_selector_class

    config = get_selector_class("bm25").config_class
    default = next(f.default for f in dataclasses.fields(config) if f.name == "punctuation")
    from hf_select.selectors.bm25 import PUNCTUATION_MODES

    return [(BM25_TOKEN_LABELS.get(m, m), m) for m in PUNCTUATION_MODES], default


def selector_options(name: str, bm25_tokens: str | None) -> dict[str, Any]:
    """Options passed to ``hs.select`` for a live selector: none unless the user picked a non-default one."""
    if name != "bm25" or not bm25_tokens:
        return {}
    choices, default = bm25_token_choices()
    if bm25_tokens not in {mode for _, mode in choices}:
        raise ValueError(f"BM25 tokens must be one of {[mode for _, mode in choices]}, got {bm25_tokens!r}.")
    return {} if bm25_tokens == default else {"punctuation": bm25_tokens}


def run_select(pool_source, max_rows, pool_file, hub_id, hub_split, target_source, target_text, target_file, methods,
               bm25_tokens, fraction, seed, *, cfg: SpaceConfig, progress=gr.Progress(track_tqdm=True)):
    """Select handler: (status, top rows, domain mix, card preview, push choice, summary, state)."""
    try:
        live = [m for m in LIVE_SELECTORS if m in (methods or [])]
        if not live:
            raise ValueError(f"Pick at least one of the live selectors {', '.join(LIVE_SELECTORS)} "
                             "(perplexity and LESS are planned here; run them with `hf-select select`).")
        fraction = float(fraction)
        if not 0 < fraction <= 1:
            raise ValueError("Fraction must be in (0, 1].")
        progress(0.0, desc="Loading the pool")
        pool = load_pool(pool_source, max_rows, pool_file, hub_id, hub_split, cfg)
        target = load_target(target_source, target_text, target_file, cfg)
        results: dict[str, Any] = {}
        for i, name in enumerate(live):
            progress(0.05 + 0.9 * i / len(live), desc=f"Running {name} on {pool.num_rows:,} rows")
            results[name] = hs.select(pool, name, target=target, fraction=fraction, seed=int(seed or 0),
                                      **selector_options(name, bm25_tokens))
        progress(1.0, desc="Done")
        domains = list(pool["domain"]) if "domain" in pool.column_names else None
        rows = []
        for name, res in results.items():
            top_idx = [int(i) for i in res.indices[: cfg.top_rows]]
            texts = hs.text_view(pool.select(top_idx), "full")
            rows += [[name, rank + 1, round(float(res.scores[i]), 4), domains[i] if domains else "",
                      _preview(text, cfg.preview_chars)] for rank, (i, text) in enumerate(zip(top_idx, texts))]
        summary = {n: {"k": r.k, "seconds": round(r.cost.seconds, 3), "selection_flops": r.cost.flops}
                   for n, r in results.items()}
        if domains and "domain" in target.column_names:
            target_domain = Counter(target["domain"]).most_common(1)[0][0]
            for n, r in results.items():
                share = sum(domains[int(i)] == target_domain for i in r.indices) / max(r.k, 1)
                summary[n].update(target_domain=target_domain, target_domain_share=round(share, 4))
        lines = ["| selector | k | seconds | selection FLOPs | target-domain share |", "|---|---:|---:|---:|---:|"]
        for n, s in summary.items():
            share = f"{s['target_domain_share']:.1%}" if "target_domain" in s else "-"
            lines.append(f"| {n} | {s['k']:,} | {s['seconds']:.2f} | {s['selection_flops']:.3g} | {share} |")
        planned_only = [m for m in methods if m not in LIVE_SELECTORS]
        note = f" ({', '.join(planned_only)}: planned only, run them with `hf-select select`)" if planned_only else ""
        status = (f"Selected {fraction:.1%} of {pool.num_rows:,} rows with {', '.join(live)}{note}.\n\n"
                  + "\n".join(lines))
        mix = {"headers": ["domain", "pool"] + list(results), "data": domain_mix(domains, results) if domains else []}
        top = {"headers": ["selector", "rank", "score", "domain", "text"], "data": rows}
        first = live[0]
        return status, top, mix, _safe_card(results[first]), gr.update(choices=live, value=first), summary, results
    except Exception as exc:  # user errors as messages; anything else too, never a traceback
        if not isinstance(exc, _USER_ERRORS):
            logger.exception("select failed")
        return (_error_md(exc, unexpected=not isinstance(exc, _USER_ERRORS)), {"headers": ["selector"], "data": []},
                {"headers": ["domain"], "data": []}, "", gr.update(choices=[], value=None), {}, None)


def _safe_card(result: Any, repo_id: str = "", mode: str = "subset") -> str:
    try:
        return card_preview(result, repo_id, mode)
    except ImportError:
        return "_Cost card preview needs `hf_select.hub` (pip install \"hf-select[hub]\")._"
    except Exception as exc:
        logger.exception("card rendering failed")
        return _error_md(exc, unexpected=True)


def show_card(results: Any, choice: str, repo_id: str = "", mode: str = "subset") -> str:
    """Card handler: the cost card of the chosen selection as it would be pushed to ``repo_id``."""
    if not results or choice not in results:
        return "Run **Select** first; the cost card of the chosen selection appears here."
    return _safe_card(results[choice], repo_id, mode)


# ---------------------------------------------------------------------------------------------------------------- push
def run_push(results: Any, choice: str, repo_id: str, token: str, private: bool, mode: str):
    """Push handler: (status, cleared token). The token is never logged, returned or shown in a message."""
    token = (token or "").strip() if isinstance(token, str) else ""
    try:
        if not results:
            raise ValueError("Nothing to push yet: run Select first.")
        if choice not in results:
            raise ValueError(f"Choose which selection to push (one of {', '.join(results)}).")
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise ValueError("Enter the dataset repo id to push to, e.g. 'user/my-selection'.")
        if not token:
            raise ValueError("Enter a Hugging Face write token to push.")
        if not _TOKEN_PATTERN.fullmatch(token):
            token = ""  # nothing of it may reach a message
            raise ValueError("That is not a Hugging Face access token (letters, digits, '_' and '-' only, as copied "
                             "from huggingface.co/settings/tokens); paste it again.")
        pushed = results[choice].push_to_hub(repo_id, token=token, private=bool(private), mode=mode)
        what = "already up to date" if pushed.commits_created == 0 else f"{pushed.commits_created} commit(s)"
        return f"Pushed the **{choice}** selection ({mode}) to [{pushed.repo_id}]({pushed.url}): {what}.", ""
    except Exception as exc:  # scrub the token from whatever the clients said
        from hf_select.hub import HubPushError

        unexpected = not isinstance(exc, (*_USER_ERRORS, HubPushError))
        message = _error_md(exc, unexpected=unexpected)
        return (message.replace(token, "***") if token else message), ""


def _error_md(exc: BaseException, unexpected: bool = False) -> str:
    kind = f"Unexpected error ({type(exc).__name__})" if unexpected else "Error"
    return f"**{kind}:** {exc}"
