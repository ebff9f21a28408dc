"""Text-content filters: exact / near-duplicate removal, a language (script) filter, a regex filter.

They are registered with :func:`hf_select.data.filters.register_filter` and re-exported by
:mod:`hf_select.data.filters` and :mod:`hf_select.filters`; see there for how to use them.

Example:
    >>> from hf_select.data.filters import apply_filters
    >>> from hf_select.data.text_filters import ExactDedupFilter
    >>> apply_filters(["a b", "A  b", "c"], [ExactDedupFilter()])[1].tolist()
    [0, 2]
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .filter_base import Filter, _check_view, _row_text, register_filter


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


@register_filter("exact_dedup")
@dataclass
class ExactDedupFilter(Filter):
    """Keep the first row of each group of identical texts (after lower-casing and collapsing whitespace)."""

    view: str = field(default="full", metadata={"help": "Text compared: 'full', 'query' or 'completion'."})
    normalize: bool = field(default=True, metadata={"help": "Lower-case and collapse whitespace before hashing."})
    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_view(self.view)
        self._seen: set[bytes] = set()

    def reset(self) -> None:
        super().reset()
        self._seen = set()

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        text = _row_text(row, self.view, self.text_field)
        key = hashlib.sha1((_normalise(text) if self.normalize else text).encode("utf-8")).digest()
        if key in self._seen:
            return False, "exact_duplicate"
        self._seen.add(key)
        return True


@register_filter("near_dedup")
@dataclass
class NearDedupFilter(Filter):
    """MinHash-LSH near-duplicate removal (``datasketch``): drop a row whose estimated Jaccard similarity of word
    n-gram shingles with an earlier kept row is at least ``threshold``."""

    threshold: float = field(default=0.8, metadata={"help": "LSH Jaccard threshold in (0, 1)."})
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations (precision vs speed)."})
    ngram: int = field(default=3, metadata={"help": "Words per shingle."})
    view: str = field(default="full", metadata={"help": "Text compared: 'full', 'query' or 'completion'."})
    seed: int = field(default=1, metadata={"help": "MinHash seed."})
    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..import_utils import require

        require("datasketch", "NearDedupFilter")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold={self.threshold} must be in (0, 1).")
        if self.ngram < 1 or self.num_perm < 2:
            raise ValueError("ngram must be >= 1 and num_perm >= 2.")
        _check_view(self.view)
        self.reset()

    def reset(self) -> None:
        from datasketch import MinHashLSH

        super().reset()
        self._lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        self._n = 0

    def minhash(self, text: str) -> Any:
        from datasketch import MinHash

        words = _normalise(text).split()
        shingles = {" ".join(words[i:i + self.ngram]) for i in range(max(1, len(words) - self.ngram + 1))}
        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch([s.encode("utf-8") for s in shingles])
        return m

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        m = self.minhash(_row_text(row, self.view, self.text_field))
        if self._lsh.query(m):
            return False, "near_duplicate"
        self._lsh.insert(f"r{self._n}", m)
        self._n += 1
        return True


SCRIPTS = ("ascii", "latin", "cyrillic", "greek", "arabic", "hebrew", "cjk", "hiragana", "katakana", "hangul",
           "devanagari", "thai")


def _in_script(ch: str, script: str) -> bool:
    if script == "ascii":
        return ord(ch) < 128
    if ord(ch) < 128:
        return script == "latin"
    try:
        return unicodedata.name(ch).startswith(script.upper())
    except ValueError:
        return False


@register_filter("charset")
@dataclass
class CharsetFilter(Filter):
    """Language/charset filter: keep rows where at least ``min_ratio`` of the letters are in the allowed scripts
    (``"ascii"``, ``"latin"``, ``"cyrillic"``, ``"cjk"``, ...). Rows with fewer than ``min_letters`` letters are
    kept."""

    scripts: list[str] = field(default_factory=lambda: ["latin"],
                               metadata={"help": f"Allowed scripts, from {SCRIPTS}."})
    min_ratio: float = field(default=0.8, metadata={"help": "Smallest share of letters in the allowed scripts."})
    min_letters: int = field(default=1, metadata={"help": "Rows with fewer letters are not judged (kept)."})
    view: str = field(default="full", metadata={"help": "Text checked: 'full', 'query' or 'completion'."})
    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.scripts, str):
            self.scripts = [self.scripts]
        unknown = [s for s in self.scripts if s not in SCRIPTS]
        if unknown or not self.scripts:
            raise ValueError(f"Unknown script(s) {unknown}; use some of {SCRIPTS}.")
        if not 0.0 <= self.min_ratio <= 1.0:
            raise ValueError(f"min_ratio={self.min_ratio} must be in [0, 1].")
        _check_view(self.view)

    def ratio(self, text: str) -> tuple[float, int]:
        letters = [c for c in text if c.isalpha()]
        if not letters:
            return 1.0, 0
        ok = sum(1 for c in letters if any(_in_script(c, s) for s in self.scripts))
        return ok / len(letters), len(letters)

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        r, n = self.ratio(_row_text(row, self.view, self.text_field))
        if n >= self.min_letters and r < self.min_ratio:
            return False, "other_script"
        return True


@register_filter("regex")
@dataclass
class RegexFilter(Filter):
    """Drop rows whose text matches ``pattern`` (e.g. refusals such as ``"as an AI language model"``)."""

    pattern: str = field(default="", metadata={"help": "Python regular expression; a match drops the row."})
    view: str = field(default="full", metadata={"help": "Text searched: 'full', 'query' or 'completion'."})
    text_field: str | None = field(default=None, metadata={"help": "Text column of language-modeling data."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.pattern:
            raise ValueError("RegexFilter needs pattern=<regular expression>.")
        self._re = re.compile(self.pattern, re.IGNORECASE)
        _check_view(self.view)

    def check(self, row: Mapping[str, Any], index: int | None = None) -> bool | tuple[bool, str]:
        return (False, "pattern_match") if self._re.search(_row_text(row, self.view, self.text_field)) else True
