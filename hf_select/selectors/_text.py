"""Tokenisation and hashing helpers shared by the lexical selectors (``bm25``, ``dsir``).

Everything here is pure Python + numpy/scipy: no model, no download.

Example:
    >>> from hf_select.selectors._text import simple_tokenizer, wordpunct_tokenize, ngram_bucket
    >>> simple_tokenizer()("Hello, World! It's numpy.sum.")
    ['hello', 'world', 'its', 'numpysum']
    >>> simple_tokenizer(punctuation="space")("Hello, World! It's numpy.sum.")
    ['hello', 'world', 'it', 's', 'numpy', 'sum']
    >>> wordpunct_tokenize("Don't panic!")
    ['Don', "'", 't', 'panic', '!']
    >>> ngram_bucket("hello world", 10_000)  # sha256 of the UTF-8 text, mod the number of buckets
    1529
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

Tokenizer = Callable[[str], list[str]]

# The regex of nltk's WordPunctTokenizer: runs of word characters, or runs of other non-space characters.
WORDPUNCT_PATTERN = r"\w+|[^\w\s]+"
_WORDPUNCT = re.compile(WORDPUNCT_PATTERN)
PUNCTUATION_MODES = ("delete", "space", "keep")
_PUNCT_TABLES = {
    "delete": str.maketrans("", "", string.punctuation),
    "space": str.maketrans(string.punctuation, " " * len(string.punctuation)),
}
# Same effect as the tables on UTF-8 bytes (ASCII bytes never occur inside multi-byte characters), and much faster than
# str.translate on one large non-ASCII string (bulk path).
_PUNCT_BYTES = string.punctuation.encode("ascii")
_PUNCT_BYTE_TABLE = bytes.maketrans(_PUNCT_BYTES, b" " * len(_PUNCT_BYTES))


def wordpunct_tokenize(text: str) -> list[str]:
    """nltk-style ``wordpunct_tokenize``: ``re.findall(r"\\w+|[^\\w\\s]+", text)``."""
    return _WORDPUNCT.findall(text)


def simple_tokenizer(lowercase: bool = True, punctuation: str = "delete",
                     tokenizer: Tokenizer | str | None = None) -> Tokenizer:
    """Build ``text -> tokens``: optional lowercasing, ASCII punctuation handling, then a split.

    Args:
        lowercase: lowercase the text first.
        punctuation: what to do with the characters of ``string.punctuation``: ``"delete"`` them (``"it's"`` ->
            ``"its"``, but also ``"numpy.sum"`` -> ``"numpysum"``), replace each by a ``"space"``, or ``"keep"`` them.
        tokenizer: how to split what is left: ``None`` = whitespace split, a ``str`` = a regex whose matches are the
            tokens (``re.findall``), or a callable ``str -> list[str]`` (e.g. a HF tokenizer's ``tokenize``).
    """
    if punctuation not in PUNCTUATION_MODES:
        raise ValueError(f"punctuation={punctuation!r} is not known; use one of {PUNCTUATION_MODES}.")
    if tokenizer is not None and not isinstance(tokenizer, str) and not callable(tokenizer):
        raise TypeError(f"tokenizer must be None, a regex string or a callable str -> list[str], "
                        f"got {type(tokenizer).__name__}.")
    return SimpleTokenizer(lowercase, punctuation, tokenizer)


class SimpleTokenizer:
    """The tokenizer :func:`simple_tokenizer` builds; an object (not a closure) so that selectors holding one can be
    sent to worker processes (``StreamConfig.num_proc``)."""

    def __init__(self, lowercase: bool, punctuation: str, tokenizer: Tokenizer | str | None) -> None:
        self.lowercase, self.punctuation, self.tokenizer = lowercase, punctuation, tokenizer
        self.table = _PUNCT_TABLES.get(punctuation)
        if tokenizer is None:
            self.split: Tokenizer = str.split
        elif isinstance(tokenizer, str):
            try:
                self.split = re.compile(tokenizer).findall
            except re.error as err:
                raise ValueError(f"tokenizer={tokenizer!r} is not a valid regular expression: {err}.") from None
        else:
            self.split = tokenizer

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.table is not None:
            text = text.translate(self.table)
        return list(self.split(text))

    def __reduce__(self):
        return SimpleTokenizer, (self.lowercase, self.punctuation, self.tokenizer)


def tokenize_all(texts: Iterable[str], tokenize: Tokenizer) -> list[list[str]]:
    """Apply ``tokenize`` to each text; results must be lists (other iterables are converted) of strings."""
    out = list(map(tokenize, texts))
    for i, toks in enumerate(out):
        if not isinstance(toks, list):
            out[i] = list(toks)
    first = next((toks for toks in out if toks), None)
    if first is not None and not isinstance(first[0], str):
        raise TypeError(f"The tokenizer returned {type(first[0]).__name__} tokens; it must return a list of strings.")
    return out


def term_matrix(docs: Sequence[Sequence[str]], vocab: dict[str, int] | None = None, *, grow: bool = True):
    """Count matrix (CSR, ``float64``) of tokenised documents over ``vocab`` (term -> column).

    With ``grow=True`` new terms are added to ``vocab`` (which is created when ``None``); with ``grow=False`` terms
    outside ``vocab`` are dropped. Returns ``(matrix, vocab, lengths)`` where ``lengths`` counts every token of each
    document, dropped ones included.
    """
    vocab = {} if vocab is None else vocab
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    if grow:
        ids = [vocab.setdefault(w, len(vocab)) for d in docs for w in d]
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
    else:
        get = vocab.get
        per_doc = [[j for j in (get(w) for w in d) if j is not None] for d in docs]
        ids = [j for d in per_doc for j in d]
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in per_doc], out=indptr[1:])
    matrix = csr_counts(np.asarray(ids, dtype=np.int64), np.diff(indptr), len(vocab))
    return matrix, vocab, lengths


_DOC_SEPARATOR = "\x00"


def whitespace_term_ids(texts: Sequence[str], lowercase: bool = True, punctuation: str = "delete"):
    """Fast path of ``term_matrix(tokenize_all(texts, simple_tokenizer(lowercase, punctuation)))`` for the default
    whitespace split: the texts are joined (with a NUL separator token), lowercased / translated and split once, and
    mapped to ids with C-level ``dict`` operations. Returns ``(ids, lengths, vocab)`` (flat term ids in document
    order, tokens per document, term -> id), or ``None`` when a text contains the NUL separator itself.
    """
    if punctuation not in PUNCTUATION_MODES:
        raise ValueError(f"punctuation={punctuation!r} is not known; use one of {PUNCTUATION_MODES}.")
    sep = f" {_DOC_SEPARATOR} "
    big = sep.join(texts) + sep
    if big.count(_DOC_SEPARATOR) != len(texts):
        return None
    if lowercase:
        big = big.lower()
    if punctuation != "keep":
        raw = big.encode("utf-8", "surrogatepass")
        if punctuation == "delete":
            raw = raw.translate(None, _PUNCT_BYTES)
        else:
            raw = raw.translate(_PUNCT_BYTE_TABLE)
        big = raw.decode("utf-8", "surrogatepass")
    flat = big.split()
    uniq = dict.fromkeys(flat)
    uniq.pop(_DOC_SEPARATOR, None)
    vocab = {w: i for i, w in enumerate(uniq)}
    vocab_sep = dict(vocab)
    vocab_sep[_DOC_SEPARATOR] = -1
    ids = np.fromiter(map(vocab_sep.__getitem__, flat), dtype=np.int64, count=len(flat))
    ends = np.flatnonzero(ids < 0)
    lengths = np.diff(np.concatenate([[-1], ends])) - 1
    return ids[ids >= 0], lengths.astype(np.int64), vocab


def csr_counts(ids: np.ndarray, lengths: np.ndarray, n_terms: int):
    """CSR count matrix (``float64``, duplicates summed, sorted columns) from flat term ids and per-row lengths."""
    from scipy import sparse

    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = np.ones(len(ids), dtype=np.float64)
    matrix = sparse.csr_matrix((data, ids, indptr), shape=(len(lengths), max(n_terms, 1)))
    matrix.sum_duplicates()
    return matrix


def ngram_bucket(text: str, num_buckets: int) -> int:
    """Stable bucket of an n-gram string: ``int(sha256(text.encode("utf-8")).hexdigest(), 16) % num_buckets``.

    This is the hash of the DSIR reference implementation (``data-selection`` package), so buckets agree with it;
    unlike Python's ``hash()`` it does not change between processes.
    """
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big") % num_buckets


def _buckets_of(strings: list[str], num_buckets: int, memo: dict[str, int]) -> np.ndarray:
    """:func:`ngram_bucket` of each (distinct) string, through ``memo``."""
    missing = set(strings).difference(memo.keys())
    memo.update((s, ngram_bucket(s, num_buckets)) for s in missing)
    return np.fromiter(map(memo.__getitem__, strings), dtype=np.int64, count=len(strings))


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of an int64 array (hash-based, first-appearance order)."""
    import pandas as pd  # a dependency of ``datasets``

    codes, uniques = pd.factorize(keys)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=np.int64)


class NgramMemo:
    """Buckets of n-grams seen before, so each distinct n-gram is hashed once across batches.

    Words get global ids (their buckets in an array indexed by id), bigrams are keyed by their two word ids in a
    sorted array (looked up with ``searchsorted``: no string is built for a known bigram), longer n-grams by their
    string. Everything restarts when more than ``limit`` entries would be held (memory stays bounded).
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = int(min(limit, 2**31 - 1))  # word ids must fit 31 bits in a bigram key
        self.clear()

    def clear(self) -> None:
        self.word_ids: dict[str, int] = {}
        self.words: list[str] = []
        self.word_buckets = np.zeros(0, dtype=np.int64)
        self.pair_keys = np.zeros(0, dtype=np.int64)
        self.pair_buckets = np.zeros(0, dtype=np.int64)
        self.strings: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.words) + len(self.pair_keys) + len(self.strings)

    def word_id_buckets(self, words: list[str], num_buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """``(global ids, buckets)`` of distinct words."""
        known = len(self.words)
        setdefault = self.word_ids.setdefault
        ids = np.fromiter((setdefault(w, len(self.word_ids)) for w in words), dtype=np.int64, count=len(words))
        if len(self.word_ids) > known:
            fresh = [w for w, i in zip(words, ids.tolist()) if i >= known]  # in id order
            self.words.extend(fresh)
            self.word_buckets = np.concatenate([self.word_buckets, np.fromiter(
                (ngram_bucket(w, num_buckets) for w in fresh), dtype=np.int64, count=len(fresh))])
        return ids, self.word_buckets[ids]

    def pair_buckets_of(self, keys: np.ndarray, num_buckets: int) -> np.ndarray:
        """Buckets of distinct bigrams keyed ``first word id << 32 | second word id``."""
        pos = np.searchsorted(self.pair_keys, keys)
        found = pos < len(self.pair_keys)
        found[found] = self.pair_keys[pos[found]] == keys[found]
        out = np.empty(len(keys), dtype=np.int64)
        out[found] = self.pair_buckets[pos[found]]
        miss = np.sort(keys[~found])
        if len(miss):
            words, low = self.words, (1 << 32) - 1
            fresh = np.fromiter((ngram_bucket(f"{words[k >> 32]} {words[k & low]}", num_buckets)
                                 for k in miss.tolist()), dtype=np.int64, count=len(miss))
            out[~found] = fresh[np.searchsorted(miss, keys[~found])]
            at = np.searchsorted(self.pair_keys, miss)
            self.pair_keys = np.insert(self.pair_keys, at, miss)
            self.pair_buckets = np.insert(self.pair_buckets, at, fresh)
        return out


def hashed_ngram_coo(token_lists: Sequence[Sequence[str]], num_buckets: int, n: int,
                     memo: NgramMemo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ids of all 1..n-grams (joined by one space) of each token list, as COO ``(rows, buckets)`` (int64).

    Entries are ordered by n-gram order, then row, then position (all unigrams first), so each row's entries keep the
    order unigrams, bigrams, ... of that row: sums per row (``np.bincount(rows, weights=...)``) do not depend on how
    rows are batched. Each distinct n-gram is hashed once (``memo`` remembers buckets across calls).

    Example:
        >>> rows, buckets = hashed_ngram_coo([["a", "b"], ["c"]], 1000, 2)
        >>> rows.tolist(), buckets.tolist() == [ngram_bucket(g, 1000) for g in ["a", "b", "c", "a b"]]
        ([0, 0, 1, 0], True)
    """
    from itertools import chain

    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    return flat_ngram_coo(list(chain.from_iterable(token_lists)), lengths, num_buckets, n, memo)


def regex_tokens(texts: Sequence[str], pattern: str, lowercase: bool = True) -> list[str] | None:
    """The tokens of all texts from one ``re.findall`` over the joined texts, each text followed by a NUL separator
    token; ``None`` when a text holds the separator or the pattern does not yield it as a token of its own."""
    regex = re.compile(pattern)
    sep = f" {_DOC_SEPARATOR} "
    if regex.findall(sep) != [_DOC_SEPARATOR]:
        return None
    big = sep.join(texts) + sep
    if big.count(_DOC_SEPARATOR) != len(texts):
        return None
    return regex.findall(big.lower() if lowercase else big)


def flat_ngram_coo(flat: list[str], lengths: np.ndarray | None, num_buckets: int, n: int,
                   memo: NgramMemo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hashed_ngram_coo` of texts given as all their tokens (``flat``) and tokens per text (``lengths``), or,
    with ``lengths=None``, as the output of :func:`regex_tokens` (each text ended by a separator token)."""
    memo = NgramMemo() if memo is None else memo
    if not flat:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    words = list(dict.fromkeys(flat))
    if len(memo) > memo.limit:
        memo.clear()
    local = {w: i for i, w in enumerate(words)}
    ids = np.fromiter(map(local.__getitem__, flat), dtype=np.int64, count=len(flat))
    if lengths is None:  # separators end each text
        separator = ids == local[_DOC_SEPARATOR]
        lengths = np.diff(np.concatenate([[-1], np.flatnonzero(separator)])) - 1
        ids = ids[~separator]
        if not len(ids):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    word_ids, word_buckets = memo.word_id_buckets(words, num_buckets)
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    rows, out = [doc], [word_buckets[ids]]
    tokens = word_ids[ids]
    gram_ids = tokens  # id of the (size-1)-gram starting at each position
    strings: list[str] = []
    low = (1 << 32) - 1
    for size in range(2, n + 1):
        start = np.arange(max(len(ids) - size + 1, 0), dtype=np.int64)
        start = start[doc[start] == doc[start + size - 1]]  # all size tokens in one row
        if not len(start):
            break
        tail = tokens[start + size - 1]
        if size == 2:
            codes, uniques = _factorize((gram_ids[start] << 32) | tail)
            buckets = memo.pair_buckets_of(uniques, num_buckets)
            if n > 2:
                strings = [f"{memo.words[k >> 32]} {memo.words[k & low]}" for k in uniques.tolist()]
        else:  # longer n-grams: keyed by their string
            radix = len(memo.words)
            codes, uniques = _factorize(gram_ids[start] * radix + tail)
            strings = [f"{strings[k // radix]} {memo.words[k % radix]}" for k in uniques.tolist()]
            buckets = _buckets_of(strings, num_buckets, memo.strings)
        rows.append(doc[start])
        out.append(buckets[codes])
        gram_ids = np.zeros(len(ids), dtype=np.int64)
        gram_ids[start] = codes
    return np.concatenate(rows), np.concatenate(out)


def check_positive(value: Any, name: str, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` / ``TypeError`` unless ``value`` is a positive (or non-negative) number."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__}.")
    if value < 0 or (value == 0 and not allow_zero) or not np.isfinite(value):
        raise ValueError(f"{name}={value} must be {'>= 0' if allow_zero else '> 0'} and finite.")
