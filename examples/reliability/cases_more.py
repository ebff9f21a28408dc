"""More probe cases: ``score``, ``push``, ``plan``, ``sft``, the Python API, and outputs checked for silent errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from cases import ALPACA, EARLIER_FILES, SELECT, api, cli, indices_are, load_earlier, selection, selection_edit, write
from probe import Case, Outcome

SCORE = ("score", "--dataset", "pool.jsonl", "--output", "o")
PUSH = ("push", "--selection", "earlier", "--repo-id", "me/sel")


def more_cases() -> list[Case]:
    return [*score_push_cases(), *api_cases(), *output_check_cases()]


def score_push_cases() -> list[Case]:
    torch = ("torch",)
    return [
        Case("score: --cache-dir is a file", cli(*SCORE, "--model", "m", "--cache-dir", "project/notes.txt"),
             needs=torch),
        Case("score: --model missing", cli(*SCORE, "--model", "no-such-model", "--no-cache"), needs=torch),
        Case("score: --model for a model-free selector", cli(*SCORE, "--selector", "random", "--model", "x")),
        Case("score: --cache-dir for a cache-free selector", cli(*SCORE, "--selector", "random", "--cache-dir", "c")),
        Case("score: --dtype bogus", cli(*SCORE, "--model", "m", "--dtype", "float7", "--no-cache"), needs=torch),
        Case("score: malformed dataset", cli("score", "--dataset", "p.jsonl", "--selector", "length", "--output",
                                             "o", setup=write("p.jsonl", '{"text": "a"\n'))),
        Case("score: unknown selector", cli(*SCORE, "--selector", "nope")),
        Case("push: --selection missing", cli("push", "--selection", "nope", "--repo-id", "me/sel")),
        Case("push: --selection not a selection", cli("push", "--selection", "project", "--repo-id", "me/sel"),
             keep=("project/train.py",)),
        Case("push: edited index -1", cli(*PUSH, setup=selection_edit(indices=[0, 1, -1]))),
        Case("push: edited index past the pool", cli(*PUSH, setup=selection_edit(indices=[0, 1, 40]))),
        Case("push: duplicated index", cli(*PUSH, setup=selection_edit(indices=[0, 1, 1]))),
        Case("push: k disagreeing with selection.json", cli(*PUSH, setup=selection_edit(k=7))),
        Case("push: all-NaN scores", cli(*PUSH, setup=selection_edit(scores=[float("nan")] * 40))),
        Case("push: scores of another pool size", cli(*PUSH, setup=selection_edit(scores=[1.0] * 39))),
        Case("push: damaged selection.json", cli(*PUSH, setup=selection_edit(json="{broken"))),
        Case("push: bad repo id", cli("push", "--selection", "earlier", "--repo-id", "not a repo"),
             needs=("huggingface_hub",)),
        Case("push: offline, no token", cli(*PUSH, extra_env={"HF_TOKEN": "", "HF_HOME": "hf_home"}),
             needs=("huggingface_hub",)),
        Case("push: subset mode without the rows", cli("push", "--selection", "earlier/selection", "--repo-id",
                                                       "me/sel")),
        Case("push: --plot not a PNG", cli(*PUSH, "--plot", "project/notes.txt", "--token", "hf_probe_token_x"),
             needs=("huggingface_hub",)),
        Case("plan: --output is a folder", cli("plan", "--budget-flops", "1e18", "--train-params", "7e9",
                                               "--pool-size", "1000", "--tokens-per-example", "200", "--output",
                                               "project")),
        Case("plan: negative budget", cli("plan", "--budget-flops", "-1", "--train-params", "7e9", "--pool-size",
                                          "1000", "--tokens-per-example", "200", "--no-plot")),
        Case("plan: unreadable --runs", cli("plan", "--runs", "runs.csv", "--budget-flops", "1e18", "--train-params",
                                            "7e9", "--pool-size", "1000", "--tokens-per-example", "200", "--no-plot",
                                            setup=write("runs.csv", "method,performance\nbm25,abc,\n"))),
        Case("sft: malformed YAML config", cli("sft", "--config", "c.yaml", setup=write("c.yaml", "a: [unclosed\n")),
             needs=("trl",)),
        Case("sft: missing config file", cli("sft", "--config", "nope.yaml"), needs=("trl",)),
    ]


def _other_pool(folder: Path):
    import datasets

    rows = [json.loads(line) for line in (folder / "pool.jsonl").read_text().splitlines()]
    return datasets.Dataset.from_list([{**r, "prompt": r["prompt"].upper()} for r in rows])


def _cache_on_a_file(folder: Path):
    from hf_select.scoring.cache import ShardCache

    return ShardCache(folder / "project" / "notes.txt", "k", num_rows=4, shard_size=2)


def _nan_selector(folder: Path):
    import numpy as np

    import hf_select as hs

    @hs.register_selector("probe_nan")
    class ProbeNaN(hs.Selector):
        def score(self, dataset, target=None):  # skips the base class's finiteness check
            return np.full(len(self.texts(dataset)), np.nan)

    return hs.select(str(folder / "pool.jsonl"), "probe_nan", k=2)


def _stream_equals_memory(folder: Path) -> bool:
    """A streamed pool (streaming is supported) gives the in-memory selection: same indices and scores."""
    import datasets
    import hf_select as hs

    ds = datasets.Dataset.from_dict({"text": ["a", "a longer row", "mid row"]})
    streamed, in_memory = hs.select(ds.to_iterable_dataset(), "length", k=2), hs.select(ds, "length", k=2)
    return streamed.indices.tolist() == in_memory.indices.tolist() == [1, 2] and \
        streamed.scores.tolist() == in_memory.scores.tolist()


def api_cases() -> list[Case]:
    import hf_select as hs

    pool = lambda f: str(f / "pool.jsonl")  # noqa: E731
    load = lambda f: load_earlier(f)  # noqa: E731
    return [
        Case("api: select([])", api(lambda f: hs.select([], "random", k=1))),
        Case("api: select(None)", api(lambda f: hs.select(None, "random", k=1))),
        Case("api: select(42)", api(lambda f: hs.select(42, "random", k=1))),
        Case("api: select(row with a number as text)", api(lambda f: hs.select([{"text": "a"}, {"text": 3}],
                                                                             "length", k=1))),
        Case("api: select(mixed list)", api(lambda f: hs.select(["a", {"text": "b"}], "random", k=1))),
        Case("api: select(IterableDataset) equals in memory", api(_stream_equals_memory), expect_error=False,
             check=_true),
        Case("api: select(DatasetDict)", api(lambda f: hs.select(__import__("datasets").DatasetDict(
            {"train": __import__("datasets").Dataset.from_dict({"text": ["a"]})}), "random", k=1))),
        Case("api: select k larger than the pool", api(lambda f: hs.select(pool(f), "length", k=41))),
        Case("api: select unknown strategy option", api(lambda f: hs.select(pool(f), "length", k=2, strategy="top",
                                                                            strategy_kwargs={"x": 1}))),
        Case("api: select NaN scores from a selector", api(_nan_selector)),
        Case("api: select columns= bad", api(lambda f: hs.select(pool(f), "length", k=2, columns={"x": "text"}))),
        Case("api: select selector given twice", api(lambda f: hs.select(pool(f), hs.get_selector("length"), k=2,
                                                                         text_view="full"))),
        Case("api: to_dataset on another pool", api(lambda f: selection(f).to_dataset(_other_pool(f)))),
        Case("api: to_dataset(ignore_fingerprint=True)", api(lambda f: selection(f).to_dataset(
            _other_pool(f), ignore_fingerprint=True)), expect_error=False),
        Case("api: to_dataset on a shorter pool", api(lambda f: selection(f).to_dataset(["a", "b"]))),
        Case("api: load edited index -1", api(load, setup=selection_edit(indices=[0, 1, -1]))),
        Case("api: load duplicated index", api(load, setup=selection_edit(indices=[2, 2, 3]))),
        Case("api: load k mismatch", api(load, setup=selection_edit(k=2))),
        Case("api: load all-NaN scores", api(load, setup=selection_edit(scores=[float("nan")] * 40))),
        Case("api: load +inf score", api(load, setup=selection_edit(scores=[float("inf")] + [0.0] * 39))),
        Case("api: load damaged selection.json", api(load, setup=selection_edit(json="[1, 2"))),
        Case("api: load a folder that is no selection", api(lambda f: hs.SelectionResult.load(f / "project"))),
        Case("api: ShardCache on a file", api(_cache_on_a_file), needs=("filelock",)),
        Case("api: text_view unknown view", api(lambda f: hs.text_view(["a"], "side"))),
        Case("api: text_view unknown format", api(lambda f: hs.text_view(["a"], "full", format="weird"))),
        Case("api: get_selector unknown option", api(lambda f: hs.get_selector("bm25", bogus=1))),
        Case("api: SelectionConfig bad strategy", api(lambda f: hs.SelectionConfig(strategy="nope", k=1))),
        Case("api: load_builtin_pool(max_rows=0)", api(lambda f: hs.load_builtin_pool(max_rows=0))),
        Case("api: pickle hf_select", api(lambda f: pickle.loads(pickle.dumps(hs)) is hs), expect_error=False,
             check=lambda f, o: None if o.out == "True" else f"unpickled to {o.out}"),
    ]


def _subset_has_no_null(folder: Path, outcome: Outcome) -> str | None:
    lines = (folder / "o" / "subset.jsonl").read_text().splitlines()
    scores = [json.loads(line)["hf_select_score"] for line in lines]
    return None if all(isinstance(s, float) for s in scores) and len(scores) == 5 else f"scores in jsonl: {scores}"


def _alpaca_views(folder: Path) -> Any:
    import hf_select as hs

    texts = hs.text_view([{"instruction": "Sort", "input": "[3,1]", "output": "[1,3]"}], "full")
    return "[1,3]" in texts[0] and "[3,1]" in texts[0]


def _sharegpt_views(folder: Path) -> Any:
    import hf_select as hs

    row = {"conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]}
    return hs.text_view([row], "query") == ["Hi?"] and "Hello." in hs.text_view([row], "completion")[0]


def _true(folder: Path, outcome: Outcome) -> str | None:
    return None if outcome.out == "True" else f"got {outcome.out}"


def output_check_cases() -> list[Case]:
    cats = sorted(i for i, r in enumerate(ALPACA) if "cats" in r["output"])
    bm25 = ("--target", "sharegpt.jsonl", "--selector", "bm25", "-o", "text_view=full", "--k", "4")
    return [
        Case("check: Alpaca pool scored on its answers", cli("select", "--dataset", "alpaca.jsonl", *bm25,
                                                             "--output", "o"), expect_error=False,
             check=indices_are("o/selection", cats)),
        Case("check: --columns maps any schema", cli("select", "--dataset", "custom.jsonl", *bm25, "--columns",
                                                     "q=prompt", "--columns", "a=completion", "--output", "o"),
             expect_error=False, check=indices_are("o/selection", cats)),
        Case("check: jsonl subset holds real scores", cli(*SELECT, "--k", "5", "--subset-format", "jsonl",
                                                          "--output", "o"), expect_error=False,
             check=_subset_has_no_null),
        Case("check: Alpaca text views keep the answer", api(_alpaca_views), expect_error=False, check=_true),
        Case("check: ShareGPT text views", api(_sharegpt_views), expect_error=False, check=_true),
        Case("check: earlier output still loads", api(lambda f: load_earlier(f).k == 3), expect_error=False,
             check=_true, keep=EARLIER_FILES),
    ]
