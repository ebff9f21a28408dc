"""Heuristic selectors: scores from simple properties of the text (no target, no model).

``length`` scores each row by its length in characters, whitespace words, or tokens of a given tokenizer; with
strategy ``"top"`` it keeps the longest examples (a strong cheap baseline in instruction tuning, Zhao et al. 2024,
"Long Is More for Alignment"), with ``"bottom"`` the shortest.

Example:
    >>> import hf_select as hs
    >>> hs.get_selector("length", unit="words").score(["a b c", "a"]).tolist()
    [3.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Selector, SelectorConfig, register_selector

UNITS = ("chars", "words", "tokens")


@dataclass
class LengthConfig(SelectorConfig):
    unit: str = field(default="chars", metadata={"help": f"Length unit, one of {UNITS}."})
    tokenizer: Any = field(
        default=None, metadata={"help": "Tokenizer (object or local path) for unit='tokens'."}
    )


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
                tok = self.config.tokenizer
                if isinstance(tok, str):
                    from transformers import AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(tok, local_files_only=True)
                ids = tok(texts, add_special_tokens=False)["input_ids"]
                out = np.array([len(x) for x in ids], dtype=np.float64)
                stage.tokens = int(out.sum())
        return out
