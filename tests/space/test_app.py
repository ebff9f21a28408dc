"""The Space end to end over HTTP: gradio_client drives Plan, Select, Card and Push on an app running on 127.0.0.1."""

from __future__ import annotations

import os

import pytest
import hf_select as hs

POOL_ROWS = 3000  # the row cap the test app was built with (conftest.TEST_POOL_ROWS, checked below)
POOL = ["Embedded pool", POOL_ROWS, None, "", "train"]  # source, row cap, file, hub id, split
FRACTION = 0.1


def plan_args(methods=("random", "bm25", "perplexity", "less"), unit="FLOPs", budget="1e16", gpu="H100", mfu=0.4,
              n_gpus=1, train_params="7e9", selector_params="1.35e8", pool_tokens="0"):
    return [*POOL, list(methods), unit, str(budget), gpu, mfu, n_gpus, train_params, selector_params, pool_tokens]


def select_args(methods, target_source="Embedded target task", target_text="", pool=POOL, bm25_tokens="delete"):
    return [*pool, target_source, target_text, None, list(methods), bm25_tokens, FRACTION, 0]


@pytest.fixture(scope="module")
def target_domain():
    return hs.load_builtin_target("validation")[0]["domain"]


def test_plan_recommends_a_method_and_draws_the_plot(client):
    plot, summary, table = client.predict(*plan_args(budget="1e15"), api_name="/plan")  # below full-pool training
    assert "Recommended" in summary
    rows = table["data"]
    assert [r[0] for r in rows] == ["random", "bm25", "perplexity", "less"]
    best = summary.split("**")[1]
    assert best in {"random", "bm25", "perplexity", "less"}
    predicted = {r[0]: float(r[4]) for r in rows if r[4] != "-"}
    assert predicted[best] == max(predicted.values())
    assert plot and os.path.exists(plot) and os.path.getsize(plot) > 5_000
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # A budget that pays for training on the whole pool: train on everything, no selection (issue 11 bug 4).
    _, summary, table = client.predict(*plan_args(budget="1e18"), api_name="/plan")
    assert "no selection" in summary.split("**")[1] and table["data"][-1][0] == "no selection"
    assert "training FLOPs: full" in summary


def test_budget_conversion_errors(app_module):
    with pytest.raises(ValueError, match="Unknown GPU"):
        app_module.budget_in_flops("GPU-hours", 1, "no-such-gpu", 0.4)
    with pytest.raises(ValueError, match="mfu"):
        app_module.budget_in_flops("GPU-hours", 1, "H100", 0)
    assert app_module.budget_in_flops("FLOPs", "1,000,000", None, 0.4) == 1e6
    assert app_module.budget_in_flops("GPU-hours", 1, "H100", 0.5, 4) == pytest.approx(4 * 3600 * 989e12 * 0.5)


def test_plan_with_gpu_hours_matches_the_flops_budget(client, app_module):
    flops = app_module.budget_in_flops("GPU-hours", 2.0, "A100", 0.5, 1)
    assert flops == pytest.approx(2.0 * 3600 * 312e12 * 0.5)
    _, by_hours, table_h = client.predict(*plan_args(unit="GPU-hours", budget=2.0, gpu="A100", mfu=0.5),
                                          api_name="/plan")
    _, by_flops, table_f = client.predict(*plan_args(budget=flops), api_name="/plan")
    assert table_h["data"] == table_f["data"]
    assert by_hours.split("**")[1] == by_flops.split("**")[1]


def test_plan_shows_errors_as_messages(client):
    plot, summary, table = client.predict(*plan_args(budget=-1), api_name="/plan")
    assert plot is None and summary.startswith("**Error:**") and "Budget" in summary
    _, summary, _ = client.predict(*plan_args(train_params="seven billion"), api_name="/plan")
    assert summary.startswith("**Error:**") and "Trained model params" in summary
    _, summary, _ = client.predict(*plan_args(methods=("less",), budget="1e9"), api_name="/plan")
    assert summary.startswith("**Error:**") and "smallest workable budget" in summary
    _, summary, _ = client.predict(*plan_args(unit="GPU-hours", gpu=None), api_name="/plan")
    assert summary.startswith("**Error:**") and "GPU preset" in summary
    _, summary, _ = client.predict(*plan_args(methods=()), api_name="/plan")
    assert summary.startswith("**Error:**")


def test_select_runs_live_selectors(client, target_domain, pool_rows):
    assert pool_rows == POOL_ROWS
    status, top, mix, card, choice, summary = client.predict(*select_args(["bm25", "dsir", "random"]),
                                                             api_name="/select")
    k = round(FRACTION * POOL_ROWS)
    assert {name: s["k"] for name, s in summary.items()} == {"bm25": k, "dsir": k, "random": k}
    assert "bm25" in status and "Error" not in status
    rows = top["data"]
    bm25_rows = [r for r in rows if r[0] == "bm25"]
    assert [r[1] for r in bm25_rows] == list(range(1, len(bm25_rows) + 1)) and len(bm25_rows) >= 5
    scores = [float(r[2]) for r in bm25_rows]
    assert scores == sorted(scores, reverse=True)
    # domain mix: bm25 puts clearly more of the target's domain in the subset than the pool (and random) holds
    assert mix["headers"] == ["domain", "pool", "bm25", "dsir", "random"]
    by_domain = {r[0]: [float(x) for x in r[1:]] for r in mix["data"]}
    pool_share, bm25_share, _, random_share = by_domain[target_domain]
    assert bm25_share > 2 * pool_share and bm25_share > random_share
    for col in range(1, 5):
        assert sum(v[col - 1] for v in by_domain.values()) == pytest.approx(1.0, abs=1e-3)
    assert summary["bm25"]["target_domain_share"] == pytest.approx(bm25_share, abs=1e-3)
    # cost card preview of the first selection, and the Card endpoint for another
    assert "bm25" in card
    assert choice["value"] == "bm25" and [c[0] for c in choice["choices"]] == ["bm25", "dsir", "random"]
    other = client.predict("random", "me/my-subset", "indices", api_name="/card")
    assert "me/my-subset" in other
    assert "random" in other and other != card


def test_select_with_pasted_target_and_error_paths(client):
    status, top, mix, card, choice, summary = client.predict(
        *select_args(["bm25"], target_source="Paste examples", target_text="How do I read a CSV file?\n\nparse dates"),
        api_name="/select")
    assert "Error" not in status and summary["bm25"]["k"] == round(FRACTION * POOL_ROWS)
    status, top, *_ = client.predict(*select_args(["bm25"], target_source="Paste examples", target_text="  \n "),
                                     api_name="/select")
    assert status.startswith("**Error:**") and "Target examples are empty" in status and top["data"] == []
    status, *_ = client.predict(*select_args(["perplexity"]), api_name="/select")
    assert status.startswith("**Error:**") and "live selectors" in status
    hub_pool = ["Hub dataset", POOL_ROWS, None, "org/some-dataset", "train"]
    status, *_ = client.predict(*select_args(["bm25"], pool=hub_pool), api_name="/select")
    assert status.startswith("**Error:**") and "offline" in status


def test_select_from_uploaded_pool(client, tmp_path):
    from gradio_client import handle_file

    rows = [f'{{"prompt": "question {i} about {w}", "completion": " answer {i}"}}'
            for i, w in enumerate(["cats", "dogs", "stocks", "cats and dogs"] * 5)]
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(rows) + "\n")
    pool = ["Upload a file", POOL_ROWS, handle_file(str(path)), "", "train"]
    args = [*pool, "Paste examples", "what moved stocks today", None, ["bm25", "embedding"], "delete", 0.25, 0]
    status, top, mix, card, choice, summary = client.predict(*args, api_name="/select")
    assert "Error" not in status, status
    assert summary["bm25"]["k"] == summary["embedding"]["k"] == 5
    stocks = [f"question {i} about stocks answer {i}" for i in range(2, 20, 4)]
    assert [r[4] for r in top["data"] if r[0] == "bm25"] == stocks
    assert sorted(r[4] for r in top["data"] if r[0] == "embedding") == sorted(stocks)  # all five, in its own order
    assert summary["embedding"]["selection_flops"] > 0 and summary["bm25"]["selection_flops"] == 0
    assert mix["data"] == []  # no domain column
    # gradio itself refuses other file types with a message (gr.Error -> AppError on the client side)
    from gradio_client.exceptions import AppError

    bad = tmp_path / "pool.txt"
    bad.write_text("x\n")
    with pytest.raises(AppError, match="jsonl"):
        client.predict(*["Upload a file", POOL_ROWS, handle_file(str(bad)), "", "train"], *args[5:], api_name="/select")


def test_upload_size_limit_is_a_clear_error(app_module, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "' + "x" * 300_000 + '"}\n')
    cfg = app_module.SpaceConfig(max_upload_mb=0.1)
    with pytest.raises(ValueError, match=r"0.3 MB; this Space accepts up to 0.1 MB"):
        app_module.load_pool("Upload a file", 10, str(path), "", "train", cfg)
    with pytest.raises(ValueError, match="no file uploaded"):
        app_module.load_target("Upload a file", "", None, cfg)
    assert app_module.load_pool("Upload a file", 10, str(path), "", "train",
                                app_module.SpaceConfig(max_upload_mb=1)).num_rows == 1


def test_push_never_echoes_the_token(client):
    secret = "hf_" + "x" * 30
    client.predict(*select_args(["random"]), api_name="/select")
    status, token_out = client.predict("random", "not a repo id", secret, True, "subset", api_name="/push")
    assert status.startswith("**Error:**") and "not a valid" in status
    assert secret not in status and token_out == ""
    # offline: the Hub client fails; the message must not contain the token either
    status, token_out = client.predict("random", "user/selection", secret, True, "subset", api_name="/push")
    assert status.startswith("**") and secret not in status and token_out == ""


def test_push_before_select_is_a_message(app_module):
    status, token_out = app_module.run_push(None, None, "user/x", "hf_secret", True, "subset")
    assert "run Select first" in status and "hf_secret" not in status and token_out == ""


def test_push_through_the_space_to_a_loopback_hub(client, loopback_hub, hub_user, hub_token):
    client.predict(*select_args(["bm25", "random"]), api_name="/select")
    repo = f"{hub_user}/space-bm25"
    status, token_out = client.predict("bm25", repo, hub_token, False, "subset", api_name="/push")
    assert status.startswith("Pushed the **bm25** selection (subset)"), status
    assert hub_token not in status and token_out == ""
    again, _ = client.predict("bm25", repo, hub_token, False, "subset", api_name="/push")
    assert "already up to date" in again
    rows, meta = hs.load_selection(repo)
    assert rows.num_rows == round(FRACTION * POOL_ROWS)
    pool_share = hs.load_builtin_pool(max_rows=POOL_ROWS)["domain"].count("numpy") / POOL_ROWS
    assert "hf_select_score" in rows.column_names and rows["domain"].count("numpy") / rows.num_rows > 2 * pool_share
    # online, a Hub dataset id works as a pool: select from the subset just pushed
    hub_pool = ["Hub dataset", POOL_ROWS, None, repo, "train"]
    status, top, mix, card, choice, summary = client.predict(*select_args(["bm25"], pool=hub_pool),
                                                             api_name="/select")
    assert "Error" not in status, status
    assert summary["bm25"]["k"] == round(FRACTION * rows.num_rows)
    status, _ = client.predict("bm25", f"{hub_user}/space-other", "hf_wrong_token", False, "indices",
                               api_name="/push")
    assert status.startswith("**Error:**") and "hf_wrong_token" not in status


def test_config_token_is_a_password_field_and_run_history_is_off(space_url):
    import json
    import urllib.request

    with urllib.request.urlopen(space_url + "config", timeout=30) as r:
        config = json.load(r)
    by_id = {c["props"].get("elem_id"): c for c in config["components"] if c.get("props", {}).get("elem_id")}
    assert by_id["push-token"]["props"]["type"] == "password"
    assert config.get("run_history") is False  # Gradio would otherwise keep every call's inputs in the browser
    apis = {d.get("api_name") for d in config["dependencies"] if d.get("api_visibility", "public") == "public"}
    assert {"plan", "select", "card", "push"} <= apis


# -- hardening (issue 9 item 6), one default (issue 11), named endpoints (issue 14) ------------------------------
def test_api_endpoints_have_named_parameters(client, app_module):
    import inspect

    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for endpoint, handler in (("/plan", app_module.run_plan), ("/select", app_module.run_select),
                              ("/push", app_module.run_push)):
        names = [p["parameter_name"] for p in api[endpoint]["parameters"]]
        expected = [n for n in inspect.signature(handler).parameters if n not in ("cfg", "progress", "results")]
        assert names == expected, endpoint
        assert not any(n.startswith("param_") for n in names)
    plot, summary, table = client.predict(*plan_args()[:5], methods=["random", "bm25"], unit="FLOPs", budget="1e16",
                                          gpu="H100", mfu=0.4, n_gpus=1, train_params="7e9",
                                          selector_params="1.35e8", pool_tokens="0", api_name="/plan")
    assert "Recommended" in summary


@pytest.mark.parametrize("hub_id", ["/etc", "../secret", "./data", "data", "a/b/c", "~/x", "buckets/x", "json",
                                    "org/na me", "org/" + "n" * 120])
def test_hub_dataset_id_must_be_a_repo_id(app_module, hub_id):
    with pytest.raises(ValueError, match="Hub dataset"):
        app_module.load_pool("Hub dataset", 10, None, hub_id, "train", app_module.SpaceConfig())


def test_hub_dataset_id_is_never_read_from_this_machine(app_module, loopback_hub, tmp_path, monkeypatch):
    # issue 9 item 6a: a server folder typed as the Hub id was loaded and its rows (a secret) shown
    secret = tmp_path / "org" / "secrets"
    secret.mkdir(parents=True)
    (secret / "train.jsonl").write_text('{"text": "TOP-SECRET-VALUE"}\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        app_module.load_pool("Hub dataset", 10, None, "org/secrets", "train", app_module.SpaceConfig())
    assert "Could not read the Hub dataset 'org/secrets'" in str(err.value)
    assert "TOP-SECRET" not in str(err.value)
    with pytest.raises(ValueError, match="Split"):
        app_module.load_pool("Hub dataset", 10, None, "org/secrets", "../train", app_module.SpaceConfig())


def test_pasted_text_and_uploads_are_limited(app_module, space_url, tmp_path):
    cfg = app_module.SpaceConfig(max_paste_chars=1000)
    with pytest.raises(ValueError, match="1,001 characters; this Space accepts up to 1,000"):
        app_module.load_target("Paste examples", "x" * 1001, None, cfg)
    assert app_module.load_target("Paste examples", "x" * 1000, None, cfg).num_rows == 1
    # gradio refuses an upload over the limit before storing it (HTTP 413), and sweeps stored uploads
    import json
    import urllib.error
    import urllib.request

    limit = app_module.LAUNCH_KWARGS["max_file_size"]
    assert limit == int(app_module.SpaceConfig.from_env().max_upload_mb * 2**20)
    with urllib.request.urlopen(space_url + "config", timeout=30) as r:
        assert json.load(r)["max_file_size"] == limit
    boundary = "hfselectboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + b"x" * (limit + 1024) + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(space_url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=120)
    assert err.value.code == 413
    demo = app_module.build_demo(max_pool_rows=10)
    assert demo.delete_cache == (app_module.SpaceConfig().cache_sweep_seconds,
                                 app_module.SpaceConfig().cache_max_age_seconds)


@pytest.mark.parametrize("token", ["hf_abcQZ\r\nSet-Cookie: QZx", "hf_secretQZ\x00QZvalue", "hf_ QZspaced QZtok",
                                   "hf_ünïcodeQZ_tok", "QZshrt"])
def test_a_malformed_token_is_never_echoed(app_module, token):
    # issue 9 item 6c: a token with CR/LF/NUL came back (escaped) in the error message
    results = {"random": hs.select(["a b", "c d", "e f"], "random", k=1)}
    status, token_out = app_module.run_push(results, "random", "user/x", token, True, "subset")
    assert status.startswith("**Error:**") and "not a Hugging Face access token" in status and token_out == ""
    assert "QZ" not in status and "\\x00" not in status and "\\r" not in status


def test_bm25_uses_the_library_default(app_module, client, space_url):
    import dataclasses
    import json
    import urllib.request

    from hf_select.selectors.bm25 import BM25Config

    default = next(f.default for f in dataclasses.fields(BM25Config) if f.name == "punctuation")
    choices, space_default = app_module.bm25_token_choices()
    assert space_default == default and default in {mode for _, mode in choices}
    import space_handlers  # beside app.py, on the path once the app is loaded

    assert space_handlers.selector_options("bm25", default) == {}
    other = next(mode for _, mode in choices if mode != default)
    assert space_handlers.selector_options("bm25", other) == {"punctuation": other}
    with urllib.request.urlopen(space_url + "config", timeout=30) as r:
        config = json.load(r)
    radio = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "bm25-tokens")
    assert radio["props"]["value"] == default
