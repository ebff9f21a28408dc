"""Heuristic selectors: scores from simple properties of the text (no target, no model).

``length`` scores each row by its length in characters, whitespace words, or tokens of a given tokenizer (counted by
:func:`hf_select.scoring.encoding.encode`, the one encoding of hf_select: special tokens once); with
strategy ``"top"`` it keeps the longest examples (a strong cheap baseline in instruction tuning, Zhao et al. 2024,
"Long Is More for Alignment"), with ``"bottom"`` the shortest.

Example:
    >>> import hf_select as hs
    >>> hs.get_selector("length", unit="words").score(["a b c", "a"]).tolist()
    [3.0, 1.0]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Selector, SelectorConfig, register_selector

UNITS = ("chars", "words", "tokens")


@dataclass
class LengthConfig(SelectorConfig):
    unit: str = field(default="chars", metadata={"help": f"Length unit, one of {UNITS}."})
    tokenizer: Any = field(
        default=None, metadata={"help": "Tokenizer (object, local path or Hub id) for unit='tokens'."}
    )
    add_special_tokens: bool = field(default=True, metadata={
        "help": "unit='tokens': count the tokenizer's special tokens (e.g. BOS) once, as the model sees the text "
                "(hf_select.scoring.encoding); False counts the bare text."})


@register_selector("length")
class LengthSelector(Selector):
    """Length of the text view (default: the full example) in characters, words or tokens."""

    config_class = LengthConfig
    default_view = "full"
    streaming = "rows"

    def __init__(self, config: LengthConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.config.unit not in UNITS:
            raise ValueError(f"unit={self.config.unit!r} is not known; use one of {UNITS}.")
        if self.config.unit == "tokens" and self.config.tokenizer is None:
            raise ValueError("unit='tokens' needs tokenizer=<tokenizer or local path>.")

    def _score(self, dataset: Any, target: Any) -> np.ndarray:
        texts = self.texts(dataset)
        with self.cost.stage("measure") as stage:
            if self.config.unit == "chars":
                out = np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts))
            elif self.config.unit == "words":
                out = np.fromiter((len(t.split()) for t in texts), dtype=np.float64, count=len(texts))
            else:
                from ..scoring.encoding import encode
                from ..scoring.loading import load_tokenizer

                tok = self.config.tokenizer
                if isinstance(tok, (str, os.PathLike)):  # a folder or Hub id, loaded as every model argument is
                    tok = load_tokenizer(None, tok)
                lengths = encode(texts, tok, add_special_tokens=self.config.add_special_tokens).lengths
                out = lengths.astype(np.float64)
                stage.tokens = int(out.sum())
        return out
