"""hf_select selection as datatrove pipeline steps: the same pipeline on a laptop, on Slurm or on Ray.

Three stages, each a datatrove pipeline run by any executor (``LocalPipelineExecutor``, ``SlurmPipelineExecutor``,
``RayPipelineExecutor``); they share a ``work_dir`` (any datatrove ``DataFolder``: a local path, ``s3://...``):

1. ``[reader, SelectionStatsStep(...)]``: each task merges the pool statistics of its documents (document
   frequencies for bm25, n-gram bucket counts for dsir) and writes them to ``work_dir/stats/<rank>.json``. Selectors
   that need no pool statistics (embedding, length, model-based ones) skip this stage.
2. ``[reader, SelectionScoreStep(...), writer]``: each task merges every task's statistics, fits the selector, and
   annotates each document's ``metadata["hf_select_score"]``; it also writes ``(id, score)`` of its documents to
   ``work_dir/scores/<rank>.parquet``.
3. ``[reader of stage 2's output, SelectionFilterStep(...), writer]``: keeps the ``k`` best documents (per-task
   top-k merged into the exact global top-k, ties by task then position) or every document scoring at least a global
   threshold (given, or the k-th best score of the distribution).

Scores equal ``hs.select``'s on the same pool (statistics are merged in task order). Selectors with a final
stream-order step (``random``; ``dsir`` with ``sampling="gumbel"``) are not available here: use
``dsir`` with ``sampling="top"`` and ``SelectionFilterStep(resample="gumbel")``, which perturbs each score with Gumbel
noise seeded by the document id (importance resampling that does not depend on how the pool is split into tasks).

Documents: a row of the pool is rebuilt from the document's metadata (datatrove readers put the non-text columns
there); rows in TRL formats (``messages``, ``prompt``/``completion``) need :func:`trl_row_adapter` as the reader's
adapter, since datatrove readers skip rows without a ``text`` column.

Install with ``pip install 'hf-select[datatrove]'``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..import_utils import require
from ..selectors.base import Selector, get_selector

require("datatrove", "hf_select's datatrove steps (pip install 'hf-select[datatrove]')")

from datatrove.io import get_datafolder  # noqa: E402
from datatrove.pipeline.base import PipelineStep  # noqa: E402

SCORE_KEY = "hf_select_score"
RANK_KEY = "hf_select_rank"
FILTER_MODES = ("top_k", "threshold")
RESAMPLING = (None, "gumbel")


def trl_row_adapter(self: Any, data: dict, path: str, id_in_file: int | str) -> dict:
    """Reader adapter keeping the whole row (any TRL format) in the metadata; the text is its full view."""
    from ..data.formats import text_view

    row = dict(data)
    return {"text": text_view([row], "full")[0] or " ", "id": str(row.get("id", f"{path}/{id_in_file}")),
            "metadata": row}


def document_row(document: Any) -> dict:
    """The pool row a document stands for: its metadata (without hf_select's keys), or its text."""
    row = {k: v for k, v in document.metadata.items() if not k.startswith("hf_select_")}
    if "text" not in row:
        row["text"] = document.text
    return row


class _SelectorStep(PipelineStep):
    type = "🎯 HF-SELECT"

    def __init__(self, selector: str, target: Any = None, *, work_dir: Any, batch_size: int = 1000,
                 **selector_kwargs: Any) -> None:
        super().__init__()
        if not isinstance(selector, str):
            raise TypeError("selector must be a registered name (the step builds it in each task), got "
                            f"{type(selector).__name__}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        probe = get_selector(selector, show_progress=False, **selector_kwargs)  # validates the options now
        if probe.stream_mode() not in ("rows", "pool"):
            raise TypeError(f"Selector {selector!r} needs the whole pool in memory; it has no datatrove step.")
        if probe.draws_in_row_order:
            raise ValueError(f"Selector {selector!r} with these options adds a last step in stream order (seeded "
                             "noise) that a split pool cannot reproduce; for dsir pass sampling='top' and "
                             "SelectionFilterStep(resample='gumbel').")
        if probe.requires_target and target is None:
            raise ValueError(f"Selector {selector!r} needs target examples: pass target=...")
        self.selector_name, self.selector_kwargs = selector, {"show_progress": False, **selector_kwargs}
        self.target = None if target is None else probe.target_texts(target)  # plain texts: small and picklable
        self.work_dir = get_datafolder(work_dir)
        self.batch_size = batch_size
        self.name = f"{selector} {type(self).__name__}"

    def new_selector(self) -> Selector:
        return get_selector(self.selector_name, **self.selector_kwargs)

    def batches(self, data: Any):
        batch: list[Any] = []
        for document in data or ():
            batch.append(document)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class SelectionStatsStep(_SelectorStep):
    """Stage 1: merge the pool statistics of this task's documents into ``work_dir/stats/<rank>.json``;
    documents pass through unchanged."""

    def run(self, data: Any, rank: int = 0, world_size: int = 1):
        sel = self.new_selector()
        stats = None
        if sel.streaming == "pool":
            sel.begin(self.target)
        for batch in self.batches(data):
            if sel.streaming == "pool":
                with self.track_time("batch"):
                    part, _ = sel.shard_pass(sel.texts([document_row(d) for d in batch]))
                    stats = part if stats is None else stats.merge(part)
            self.stat_update("documents", value=len(batch))
            yield from batch
        state = None if stats is None else stats.to_state()
        with self.work_dir.open(f"stats/{rank:05d}.json", "wt") as f:
            json.dump({"selector": self.selector_name, "rank": rank, "state": state}, f)


class SelectionScoreStep(_SelectorStep):
    """Stage 2: fit on every task's statistics, write each document's score to ``metadata["hf_select_score"]`` and
    this task's ``(id, score)`` to ``work_dir/scores/<rank>.parquet``."""

    def fitted(self) -> Selector:
        sel = self.new_selector()
        if sel.streaming != "pool":
            return sel
        files = sorted(self.work_dir.list_files("stats", glob_pattern="*.json"))
        if not files:
            raise FileNotFoundError(f"no statistics in {self.work_dir.path}/stats: run the SelectionStatsStep stage "
                                    "first (same work_dir).")
        merged = None
        for name in files:  # task order: the merged statistics equal a sequential read of the pool
            with self.work_dir.open(name, "rt") as f:
                record = json.load(f)
            if record["state"] is not None:
                part = sel.stats_class.from_state(record["state"])
                merged = part if merged is None else merged.merge(part)
        sel.begin(self.target)
        sel.fit(merged)
        return sel

    def run(self, data: Any, rank: int = 0, world_size: int = 1):
        import pyarrow as pa
        import pyarrow.parquet as pq

        sel = self.fitted()
        ids: list[str] = []
        scores: list[np.ndarray] = []
        for batch in self.batches(data):
            with self.track_time("batch"):
                rows = [document_row(d) for d in batch]
                if sel.streaming == "pool":
                    values = sel.score_features(sel.shard_pass(sel.texts(rows))[1])
                else:
                    values = sel.score(rows, self.target)
            for document, value in zip(batch, values.tolist()):
                document.metadata[SCORE_KEY] = value
            ids.extend(d.id for d in batch)
            scores.append(np.asarray(values, dtype=np.float64))
            self.stat_update("documents", value=len(batch))
            yield from batch
        table = pa.table({"id": pa.array(ids, type=pa.string()),
                          "score": pa.array(np.concatenate(scores) if scores else np.zeros(0))})
        with self.work_dir.open(f"scores/{rank:05d}.parquet", "wb") as f:
            pq.write_table(table, f)


class SelectionFilterStep(PipelineStep):
    """Stage 3: keep the selected documents of stage 2's output (see the module docstring).

    Args:
        work_dir: the ``work_dir`` of the score step.
        mode: ``"top_k"`` (the ``k`` best, exact: per-task top-k merged) or ``"threshold"`` (every document with a
            score >= ``threshold``, or >= the k-th best score when ``threshold`` is None; ties are all kept).
        k / fraction: how many documents (``fraction`` of all scored ones).
        threshold: an explicit score threshold (``mode="threshold"``).
        resample: ``"gumbel"`` adds Gumbel noise seeded by ``seed`` and the document id before ranking (DSIR's
            importance resampling; use scores that are log weights, e.g. dsir with ``sampling="top"``).
        seed: seed of the resampling noise.
    """

    type = "🎯 HF-SELECT"
    name = "filter"

    def __init__(self, work_dir: Any, *, mode: str = "top_k", k: int | None = None, fraction: float | None = None,
                 threshold: float | None = None, resample: str | None = None, seed: int = 0) -> None:
        super().__init__()
        if mode not in FILTER_MODES:
            raise ValueError(f"mode={mode!r} is not known; use one of {FILTER_MODES}.")
        if resample not in RESAMPLING:
            raise ValueError(f"resample={resample!r} is not known; use None or 'gumbel'.")
        sizes = [x is not None for x in (k, fraction, threshold)]
        if sum(sizes) != 1 or (mode == "top_k" and threshold is not None):
            raise ValueError("Give exactly one of k=, fraction= (and for mode='threshold' also threshold=).")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k={k!r} must be a positive int.")
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(f"fraction={fraction!r} must be in (0, 1].")
        self.work_dir = get_datafolder(work_dir)
        self.mode, self.k, self.fraction, self.threshold = mode, k, fraction, threshold
        self.resample, self.seed = resample, seed
        self._decision: tuple[float | None, dict[str, int] | None] | None = None

    def noisy(self, ids: list[str], scores: np.ndarray) -> np.ndarray:
        if self.resample is None:
            return scores
        import hashlib

        noise = [np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big")])
                 .gumbel() for i in ids]
        return scores + np.asarray(noise)

    def _tables(self):
        import pyarrow.parquet as pq

        files = sorted(self.work_dir.list_files("scores", glob_pattern="*.parquet"))
        if not files:
            raise FileNotFoundError(f"no scores in {self.work_dir.path}/scores: run the SelectionScoreStep stage "
                                    "first (same work_dir).")
        for task, name in enumerate(files):
            with self.work_dir.open(name, "rb") as f:
                table = pq.read_table(f)
            ids = table.column("id").to_pylist()
            yield task, ids, self.noisy(ids, table.column("score").to_numpy())

    def decide(self) -> tuple[float | None, dict[str, int] | None]:
        """``(threshold, None)`` or ``(None, {document id: rank in the selection})``, computed once per task."""
        if self._decision is not None:
            return self._decision
        total = sum(len(ids) for _, ids, _ in self._tables()) if self.fraction is not None else None
        k = self.k if self.k is not None else (max(1, int(np.floor(self.fraction * total + 0.5)))
                                               if self.fraction is not None else None)
        if self.mode == "threshold" and self.threshold is not None:
            self._decision = (float(self.threshold), None)
            return self._decision
        best = (np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [])
        for task, ids, scores in self._tables():  # per-task top-k, merged into the global top-k
            keep = np.lexsort((np.arange(len(scores)), -scores))[:k]
            cand = (np.concatenate([best[0], scores[keep]]), np.concatenate([best[1], np.full(len(keep), task)]),
                    np.concatenate([best[2], keep]), best[3] + [ids[i] for i in keep])
            order = np.lexsort((cand[2], cand[1], -cand[0]))[:k]
            best = (cand[0][order], cand[1][order], cand[2][order], [cand[3][i] for i in order])
        if len(best[0]) < k:
            raise ValueError(f"k={k} is larger than the number of scored documents ({len(best[0])}).")
        if self.mode == "threshold":
            self._decision = (float(best[0][-1]), None)
        else:
            self._decision = (None, {doc_id: rank for rank, doc_id in enumerate(best[3])})
        return self._decision

    def run(self, data: Any, rank: int = 0, world_size: int = 1):
        threshold, chosen = self.decide()
        for document in data or ():
            score = document.metadata.get(SCORE_KEY)
            if score is None:
                raise ValueError(f"document {document.id!r} has no metadata[{SCORE_KEY!r}]: read the output of the "
                                 "SelectionScoreStep stage.")
            if chosen is not None:
                keep = document.id in chosen
                if keep:
                    document.metadata[RANK_KEY] = chosen[document.id]
            else:
                keep = float(self.noisy([document.id], np.array([score]))[0]) >= threshold
            self.stat_update("kept" if keep else "dropped")
            if keep:
                yield document

