"""hf_select Space: plan a compute-optimal data selection, run the cheap selectors live, push it with its cost card.

Run it locally (``make space`` does this):

    cd spaces && python app.py          # http://127.0.0.1:7860

Every button is an API endpoint ("/plan", "/select", "/card", "/push") with named parameters (those of
``run_plan``, ``run_select``, ``show_card`` and ``run_push``), so the app can be driven with ``gradio_client``:

    >>> from gradio_client import Client                                           # doctest: +SKIP
    >>> Client("http://127.0.0.1:7860").predict(*args, api_name="/plan")          # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's run history saves every call's inputs (the push token too) in the browser: off for this app.
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # space_handlers.py sits beside this file (also when app.py is loaded by path)
    sys.path.insert(0, _HERE)

import inspect  # noqa: E402

import gradio as gr  # noqa: E402
from space_data import POOL_SOURCES, TARGET_SOURCES, UPLOAD_TYPES  # noqa: E402
from space_handlers import (  # noqa: E402
    BUDGET_UNITS,
    PLAN_METHODS,
    SpaceConfig,
    bm25_token_choices,
    budget_in_flops,
    load_pool,
    load_target,
    run_plan,
    run_push,
    run_select,
    show_card,
)

__all__ = ["LAUNCH_KWARGS", "SpaceConfig", "budget_in_flops", "build_demo", "launch_kwargs", "load_pool", "load_target",
           "run_plan", "run_push", "run_select", "show_card"]


def launch_kwargs(config: SpaceConfig | None = None) -> dict:
    """``demo.launch`` options: loopback, no run history, uploads over the limit refused before they are stored."""
    cfg = config or SpaceConfig.from_env()
    return {"server_name": "127.0.0.1", "run_history": False, "max_file_size": int(cfg.max_upload_mb * 2**20)}


LAUNCH_KWARGS = launch_kwargs()


def with_config(handler, cfg: SpaceConfig):
    """``handler`` with ``cfg`` bound, keeping its other parameter names (gradio_client users see those names)."""
    signature = inspect.signature(handler)

    def bound(*args, **kwargs):
        return handler(*args, cfg=cfg, **kwargs)

    bound.__name__ = handler.__name__
    bound.__doc__ = handler.__doc__
    bound.__signature__ = signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "cfg"])
    return bound


# ------------------------------------------------------------------------------------------------------------------ UI
def build_demo(max_pool_rows: int | None = None, config: SpaceConfig | None = None) -> gr.Blocks:
    """Build the Space's Blocks (nothing is loaded or computed until an event runs)."""
    cfg = config or SpaceConfig.from_env(max_pool_rows=max_pool_rows)
    from hf_select.cost.hardware import list_gpus

    gpus = list_gpus()
    token_choices, token_default = bm25_token_choices()
    with gr.Blocks(title="hf_select: compute-constrained data selection",
                   delete_cache=(cfg.cache_sweep_seconds, cfg.cache_max_age_seconds)) as demo:
        gr.Markdown("# hf_select: compute-constrained data selection\nPick the selector that maximises fine-tuning "
                    "performance when selection **and** training share one compute budget (Yin & Rush, ICLR 2025).",
                    elem_id="intro")
        results = gr.State(None)
        with gr.Row():
            with gr.Column():
                gr.Markdown("### 1. Pool")
                pool_source = gr.Radio(list(POOL_SOURCES), value=POOL_SOURCES[0], label="Pool", elem_id="pool-source")
                max_rows = gr.Number(value=cfg.max_pool_rows, precision=0, label=f"Row cap (at most "
                                     f"{cfg.max_pool_rows:,})", elem_id="pool-max-rows")
                pool_file = gr.File(label=f"Pool file ({', '.join(UPLOAD_TYPES)}, up to {cfg.max_upload_mb:g} MB)",
                                    file_types=list(UPLOAD_TYPES), elem_id="pool-file", height=120)
                with gr.Row():
                    hub_id = gr.Textbox(label="Hub dataset id (online only)", placeholder="org/name", elem_id="hub-id")
                    hub_split = gr.Textbox(value="train", label="Split", elem_id="hub-split")
                gr.Markdown("### 2. Target examples")
                target_source = gr.Radio(list(TARGET_SOURCES), value=TARGET_SOURCES[0], label="Target",
                                         elem_id="target-source")
                target_text = gr.Textbox(lines=3, label="Target examples (one per line)", elem_id="target-text",
                                         placeholder="How do I parse dates in a CSV file?",
                                         max_length=cfg.max_paste_chars)
                target_file = gr.File(label="Target file", file_types=list(UPLOAD_TYPES), elem_id="target-file",
                                      height=120)
            with gr.Column():
                gr.Markdown("### 3. Methods, budget, models")
                methods = gr.CheckboxGroup(list(PLAN_METHODS), value=list(PLAN_METHODS), label="Selectors (Plan "
                                           "compares all; Select runs bm25 / embedding / dsir / random live)",
                                           elem_id="methods")
                bm25_tokens = gr.Radio(token_choices, value=token_default, label="BM25 tokens",
                                       elem_id="bm25-tokens")
                with gr.Row():
                    unit = gr.Radio(list(BUDGET_UNITS), value=BUDGET_UNITS[0], label="Budget unit",
                                    elem_id="budget-unit")
                    budget = gr.Textbox(value=f"{cfg.budget_flops:g}", label="Budget (FLOPs or GPU-hours)",
                                        elem_id="budget")
                with gr.Row():
                    gpu = gr.Dropdown(gpus, value=gpus[0], label="GPU preset", elem_id="gpu")
                    mfu = gr.Slider(0.05, 1.0, value=cfg.mfu, step=0.05, label="MFU", elem_id="mfu")
                    n_gpus = gr.Number(value=1, precision=0, minimum=1, label="GPUs", elem_id="n-gpus")
                with gr.Row():
                    train_params = gr.Textbox(value=f"{cfg.train_params:g}", label="Trained model params",
                                              elem_id="train-params")
                    selector_params = gr.Textbox(value=f"{cfg.selector_params:g}", label="Selector model params "
                                                 "(perplexity, LESS)", elem_id="selector-params")
                pool_tokens = gr.Textbox(value="0", label="Pool tokens for planning (0 = count the chosen pool)",
                                         elem_id="pool-tokens")
                with gr.Row():
                    fraction = gr.Slider(0.01, 1.0, value=cfg.default_fraction, step=0.01, label="Fraction to select",
                                         elem_id="fraction")
                    seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
                with gr.Row():
                    plan_btn = gr.Button("Plan", variant="primary", elem_id="plan-btn")
                    select_btn = gr.Button("Select", variant="primary", elem_id="select-btn")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Plan", id="plan", elem_id="plan-tab"):
                plan_md = gr.Markdown("Press **Plan** to compare methods under the budget.", elem_id="plan-summary")
                plan_plot = gr.Image(type="filepath", label="Predicted performance vs budget", elem_id="plan-plot",
                                     height=420)
                plan_table = gr.Dataframe(headers=["method", "selection FLOPs", "training FLOPs", "fraction",
                                                   "predicted", "note"], label="Plan per method", elem_id="plan-table")
            with gr.Tab("Selection", id="selection", elem_id="select-tab"):
                select_md = gr.Markdown("Press **Select** to run the live selectors.", elem_id="select-status")
                summary = gr.JSON(label="Summary", elem_id="select-summary", visible=False)
                top_rows = gr.Dataframe(label="Top rows per selector", wrap=True, elem_id="top-rows")
                mix = gr.Dataframe(label="Domain mix (share of rows)", elem_id="domain-mix")
                choice = gr.Dropdown([], label="Selection to preview / push", elem_id="result-choice")
                card = gr.Markdown(elem_id="card-preview")
            with gr.Tab("Push", id="push", elem_id="push-tab"):
                with gr.Row():
                    repo_id = gr.Textbox(label="Dataset repo id", placeholder="user/my-selection", elem_id="push-repo")
                    token = gr.Textbox(label="HF write token (used once, never stored or shown)", type="password",
                                       elem_id="push-token")
                with gr.Row():
                    private = gr.Checkbox(value=True, label="Private", elem_id="push-private")
                    mode = gr.Radio(["subset", "indices"], value="subset", label="Mode", elem_id="push-mode")
                push_btn = gr.Button("Push", elem_id="push-btn")
                push_md = gr.Markdown(elem_id="push-status")

        pool_inputs = [pool_source, max_rows, pool_file, hub_id, hub_split]

        unit.change(lambda u: f"{cfg.budget_gpu_hours if u == BUDGET_UNITS[1] else cfg.budget_flops:g}", unit, budget,
                    api_visibility="private")
        plan_btn.click(lambda: gr.Tabs(selected="plan"), None, tabs, api_visibility="private")
        plan_inputs = [methods, unit, budget, gpu, mfu, n_gpus, train_params, selector_params, pool_tokens]
        plan_btn.click(with_config(run_plan, cfg), pool_inputs + plan_inputs, [plan_plot, plan_md, plan_table],
                       api_name="plan")
        select_btn.click(lambda: gr.Tabs(selected="selection"), None, tabs, api_visibility="private")
        select_inputs = [target_source, target_text, target_file, methods, bm25_tokens, fraction, seed]
        select_btn.click(with_config(run_select, cfg), pool_inputs + select_inputs,
                         [select_md, top_rows, mix, card, choice, summary, results], api_name="select")
        card_inputs = [results, choice, repo_id, mode]
        choice.input(show_card, card_inputs, card, api_name="card")
        repo_id.blur(show_card, card_inputs, card, api_visibility="private")
        mode.change(show_card, card_inputs, card, api_visibility="private")
        push_btn.click(run_push, [results, choice, repo_id, token, private, mode], [push_md, token], api_name="push")
    return demo


if __name__ == "__main__":
    build_demo().launch(**LAUNCH_KWARGS)
