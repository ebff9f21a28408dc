"""The selector API: a base class, its config, and the registry.

A selector turns a dataset (any TRL format) and optional target examples into one float per row; higher means
"keep first". Strategies (:mod:`hf_select.strategies`) turn those scores into an ordered selection.

Example:
    >>> import numpy as np
    >>> import hf_select as hs
    >>> @hs.register_selector("n_chars_demo")
    ... class NChars(hs.Selector):
    ...     def _score(self, dataset, target):
    ...         return np.array([len(t) for t in self.texts(dataset)], dtype=float)
    >>> hs.get_selector("n_chars_demo").score(["a", "abc"]).tolist()
    [1.0, 3.0]
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..cost.record import SelectionCost, hardware_info
from ..data.formats import VIEWS, text_view

# Built-in selectors live in their own modules and are imported only when asked for by name.
BUILTIN_SELECTORS: dict[str, str] = {
    "random": "hf_select.selectors.random",
    "bm25": "hf_select.selectors.bm25",
    "embedding": "hf_select.selectors.embedding",
    "dsir": "hf_select.selectors.dsir",
    "length": "hf_select.selectors.heuristics",
    "perplexity": "hf_select.selectors.perplexity",
    "ifd": "hf_select.selectors.ifd",
    "color_filter": "hf_select.selectors.color_filter",
    "less": "hf_select.selectors.less",
    "kcenter": "hf_select.selectors.diversity",
    "facility_location": "hf_select.selectors.diversity",
}

_REGISTRY: dict[str, type["Selector"]] = {}
STREAM_MODES = ("rows", "pool")
CHUNK_ROWS = 1 << 20  # rows per step of Selector.finalize (bounded memory on memory-mapped score arrays)


def row_chunks(num_rows: int, size: int = CHUNK_ROWS):
    """``(start, stop)`` of consecutive chunks of rows."""
    return ((start, min(start + size, num_rows)) for start in range(0, num_rows, size))


@dataclass
class ShardFeatures:
    """What a ``streaming = "pool"`` selector keeps of one shard of the pool, to score it once the pool is fitted.

    ``rows`` holds columns with one value per row, ``entries`` equal-length columns of sparse entries (e.g. the
    ``row`` and ``bucket`` of every hashed n-gram); ``tokens`` counts the units processed (for the cost record).
    """

    num_rows: int
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    entries: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: int = 0


@dataclass
class SelectorConfig:
    """Knobs every selector has. Subclass it (as a dataclass) for a selector's own knobs."""

    text_view: str = field(
        default="auto",
        metadata={"help": "Side of each example to score: 'query' (prompt / first user turn), 'full', 'completion', "
                          "or 'auto' (the selector's default)."},
    )
    text_field: str | None = field(
        default=None, metadata={"help": "Column holding the text of language-modeling data (default: 'text')."}
    )
    target_view: str = field(
        default="auto",
        metadata={"help": "Side of each target example to use: 'auto' (the same view as the pool), 'full', 'query' or "
                          "'completion'. bm25 and embedding default to 'full': the paper's query text holds the "
                          "target answers."},
    )
    seed: int = field(default=0, metadata={"help": "Seed for any randomness in scoring."})
    show_progress: bool = field(default=True, metadata={"help": "Show tqdm progress bars on long steps."})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    name = getattr(value, "name_or_path", None) or getattr(getattr(value, "config", None), "_name_or_path", None)
    return f"<{type(value).__name__}{' ' + name if name else ''}>"


class Selector:
    """Base class of all selectors.

    Subclasses set ``name`` (done by :func:`register_selector`), ``config_class``, ``requires_target`` and
    ``default_view``, and implement :meth:`_score`. Users call :meth:`score`, which checks inputs, measures time,
    rejects non-finite scores and records :attr:`last_cost`.
    """

    name: ClassVar[str] = "selector"
    config_class: ClassVar[type[SelectorConfig]] = SelectorConfig
    requires_target: ClassVar[bool] = False
    default_view: ClassVar[str] = "full"
    #: Whether the selector scores with a causal LM (a trainer may then pass it the model being trained).
    uses_causal_lm: ClassVar[bool] = False
    #: How :mod:`hf_select.streaming` scores a pool too big for memory: ``"rows"`` (a row's score depends only on the
    #: row and the target, so shards are scored one by one with :meth:`score`), ``"pool"`` (statistics of the whole
    #: pool come first: the selector implements :meth:`begin`, :meth:`shard_pass`, :meth:`fit`,
    #: :meth:`score_features` and optionally :meth:`finalize`; its in-memory :meth:`score` runs the same methods on
    #: one shard), or ``None`` (the whole pool must be in memory).
    streaming: ClassVar[str | None] = None
    #: Whether scoring reads the rows' text (``random`` does not: a stream is then only counted).
    needs_text: ClassVar[bool] = True
    #: ``"pool"`` selectors: the class of their statistics (``merge``, ``to_state`` / ``from_state``), or None.
    stats_class: ClassVar[type | None] = None

    def __init__(self, config: SelectorConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = self.config_class()
        elif not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}.")
        if kwargs:
            names = {f.name for f in dataclasses.fields(config)}
            unknown = sorted(set(kwargs) - names)
            if unknown:
                raise TypeError(
                    f"Selector {self.name!r} got unknown option(s) {unknown}; its options are {sorted(names)}."
                )
            config = dataclasses.replace(config, **kwargs)
        for name in ("text_view", "target_view"):
            value = getattr(config, name)
            if value != "auto" and value not in VIEWS:
                raise ValueError(f"{name}={value!r} is not known; use 'auto' or one of {VIEWS}.")
        self.config = config
        self.session: dict[Any, Any] | None = None  # see shard_session()
        self.last_cost: SelectionCost | None = None
        self._cost: SelectionCost | None = None

    # -- what subclasses use -------------------------------------------------------------------------------------
    @property
    def view(self) -> str:
        return self.default_view if self.config.text_view == "auto" else self.config.text_view

    def texts(self, dataset: Any, view: str | None = None, tokenizer: Any = None) -> list[str]:
        """The configured text view of each row."""
        return text_view(dataset, view or self.view, text_field=self.config.text_field, tokenizer=tokenizer)

    @property
    def target_view(self) -> str:
        """The view of the target examples: ``config.target_view``, or the pool's view when it is ``"auto"``."""
        return self.view if self.config.target_view == "auto" else self.config.target_view

    def target_texts(self, target: Any, view: str | None = None, tokenizer: Any = None) -> list[str]:
        """Text view of the target examples (``target_view`` unless told)."""
        return text_view(target, view or self.target_view, tokenizer=tokenizer)

    @property
    def cost(self) -> SelectionCost:
        """The cost record being filled during :meth:`score` (use ``with self.cost.stage(...)``)."""
        if self._cost is None:
            self._cost = SelectionCost(hardware=hardware_info())
        return self._cost

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        if self.streaming == "pool":
            from ..streaming.engine import score_in_memory

            return score_in_memory(self, self.texts(dataset), target)
        raise NotImplementedError(f"{type(self).__name__} must implement _score(dataset, target).")

    # -- the statistics protocol of ``streaming = "pool"`` selectors ------------------------------------------------
    def begin(self, target: Any) -> None:
        """Prepare what scoring needs from the target examples (called once, before any shard)."""

    def shard_pass(self, texts: list[str]) -> tuple[Any, ShardFeatures]:
        """``(partial statistics, features)`` of one shard of pool texts.

        Statistics objects have ``merge(other) -> merged`` (or are ``None`` when the selector needs none); the
        merged statistics of all shards go to :meth:`fit`. Rows must be processed independently of the shard they fall
        in, so that any sharding gives the same scores.
        """
        raise NotImplementedError(f"{type(self).__name__} does not stream with pool statistics.")

    def stats_from_features(self, features: ShardFeatures) -> Any:
        """A shard's partial statistics rebuilt from its stored features (a resumed run then skips the shard's
        featurisation), or ``None`` when they cannot be rebuilt."""
        return None

    def fit(self, stats: Any) -> None:
        """Fit the scorer on the merged pool statistics."""

    def score_features(self, features: ShardFeatures) -> np.ndarray:
        """Scores of one shard's rows from its features (after :meth:`fit`)."""
        raise NotImplementedError(f"{type(self).__name__} does not stream with pool statistics.")

    @contextlib.contextmanager
    def shard_session(self):
        """While a stream is scored shard by shard: :attr:`session` is a dict where the selector keeps what every
        shard reuses (e.g. a target-tuned model); it is dropped at the end. Outside a session it is ``None``."""
        self.session = {}
        try:
            yield self.session
        finally:
            self.session = None

    def stream_mode(self) -> str | None:
        """:attr:`streaming` for this instance (a selector may refuse streams under some options)."""
        return self.streaming

    @property
    def draws_in_row_order(self) -> bool:
        """Whether :meth:`finalize` draws seeded values in row order (``random``; ``dsir`` with Gumbel sampling), which
        a pool split across independent tasks (datatrove) cannot reproduce."""
        return type(self).finalize is not Selector.finalize

    def finalize(self, scores: np.ndarray) -> None:
        """Last step over all scores (maybe a memory map), in place, in :func:`row_chunks` order (e.g. seeded noise
        drawn chunk by chunk from one generator, which equals one draw); default: nothing."""

    # -- public API ----------------------------------------------------------------------------------------------
    def score(self, dataset: Any, target: Any = None, *, stream_config: Any = None) -> np.ndarray:
        """One float per row of ``dataset``; higher means keep first.

        Args:
            dataset: a ``datasets.Dataset`` (any TRL format), a list of row dicts, or a list of strings; or a stream
                (a ``datasets.IterableDataset``, a parquet/jsonl glob such as ``"shards/*.parquet"``, a folder of
                shards), scored shard by shard in bounded memory (:mod:`hf_select.streaming`).
            target: target examples in any of those forms; required when ``requires_target``.
            stream_config: a :class:`hf_select.streaming.StreamConfig` for streams (shard size, cache folder, ...).
        """
        from ..streaming.source import is_stream

        if self.requires_target:
            if target is None:
                raise ValueError(f"Selector {self.name!r} needs target examples: pass target=<dataset or list of "
                                 "texts>.")
            if _num_rows(target, "target") == 0:
                raise ValueError("target is empty: give at least one target example.")
        if is_stream(dataset):
            from ..streaming.engine import score_stream

            return score_stream(self, dataset, target, config=stream_config).scores
        n = _num_rows(dataset, "dataset")
        if n == 0:
            raise ValueError("dataset is empty: give at least one row to score.")
        self._cost = SelectionCost(hardware=hardware_info())
        start = time.perf_counter()
        scores = np.asarray(self._score(dataset, target), dtype=np.float64)
        elapsed = time.perf_counter() - start
        if scores.shape != (n,):
            raise ValueError(f"Selector {self.name!r} returned {scores.shape} scores for {n} rows; expected ({n},).")
        bad = ~np.isfinite(scores)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(
                f"Selector {self.name!r} produced {int(bad.sum())} non-finite score(s) (rows {rows}...). "
                "Check those rows (empty text?) or filter them before selecting."
            )
        cost = self.cost
        unaccounted = elapsed - cost.seconds
        if not cost.stages or unaccounted > 1e-3:
            cost.add_stage("other" if cost.stages else "score", seconds=max(unaccounted, 0.0))
        cost.notes.setdefault("selector", self.name)
        cost.notes.setdefault("num_rows", n)
        self.last_cost = cost
        self._cost = None
        return scores

    def estimate_cost(self, dataset: Any, target: Any = None) -> SelectionCost:
        """Analytic cost of scoring ``dataset`` without running it (zero FLOPs unless a selector says otherwise)."""
        return SelectionCost(stages=[], hardware=hardware_info(), notes={"selector": self.name, "estimated": True})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _num_rows(data: Any, argument: str) -> int:
    if data is None:
        raise ValueError(f"{argument} is None; pass a datasets.Dataset, a list of row dicts or a list of strings.")
    if hasattr(data, "num_rows"):
        return int(data.num_rows)
    if getattr(data, "_ex_iterable", None) is not None or type(data).__name__ == "IterableDataset":
        raise TypeError(f"{argument} is a streaming IterableDataset; pass it as the pool (selection streams it) or "
                        "materialise it first, e.g. Dataset.from_list(list(iterable.take(n))).")
    try:
        return len(data)
    except TypeError:
        raise TypeError(f"{argument} must be a datasets.Dataset, a list of row dicts or a list of strings, "
                        f"got {type(data).__name__}.") from None


def register_selector(name: str):
    """Class decorator registering a :class:`Selector` subclass under ``name`` (third-party selectors too)."""
    if not isinstance(name, str) or not name:
        raise ValueError("register_selector(name): name must be a non-empty string.")

    def wrap(cls: type[Selector]) -> type[Selector]:
        if not (isinstance(cls, type) and issubclass(cls, Selector)):
            raise TypeError(f"@register_selector({name!r}) must decorate a Selector subclass, got {cls!r}.")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


ENTRY_POINT_GROUP = "hf_select.selectors"


def _entry_points() -> dict[str, Any]:
    """Selectors other packages declare under ``[project.entry-points."hf_select.selectors"]``."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_selectors() -> list[str]:
    """Names of all selectors: built-in ones (imported lazily), entry-point plugins and registered ones."""
    return sorted(set(BUILTIN_SELECTORS) | set(_REGISTRY) | set(_entry_points()))


def get_selector_class(name: str) -> type[Selector]:
    if name not in _REGISTRY and name in BUILTIN_SELECTORS:
        importlib.import_module(BUILTIN_SELECTORS[name])
    if name not in _REGISTRY:
        plugin = _entry_points().get(name)
        if plugin is not None:
            loaded = plugin.load()
            if isinstance(loaded, type) and issubclass(loaded, Selector) and name not in _REGISTRY:
                register_selector(name)(loaded)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list_selectors(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown selector {name!r}.{hint} Known selectors: {', '.join(list_selectors())}.")
    return _REGISTRY[name]


def get_selector(name: str | Selector, config: SelectorConfig | None = None, **kwargs: Any) -> Selector:
    """Build a selector by name (``kwargs`` set its config fields); a ``Selector`` instance is returned as is."""
    if isinstance(name, Selector):
        if config is not None or kwargs:
            raise TypeError("Options were given together with a Selector instance; set them on the instance instead.")
        return name
    if not isinstance(name, str):
        raise TypeError(f"selector must be a name (str) or a Selector, got {type(name).__name__}.")
    return get_selector_class(name)(config, **kwargs)
