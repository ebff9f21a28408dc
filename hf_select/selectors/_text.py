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
    table = _PUNCT_TABLES.get(punctuation)
    if tokenizer is None:
        split: Tokenizer = str.split
    elif isinstance(tokenizer, str):
        try:
            split = re.compile(tokenizer).findall
        except re.error as err:
            raise ValueError(f"tokenizer={tokenizer!r} is not a valid regular expression: {err}.") from None
    elif callable(tokenizer):
        split = tokenizer
    else:
        raise TypeError(f"tokenizer must be None, a regex string or a callable str -> list[str], "
                        f"got {type(tokenizer).__name__}.")

    def tokenize(text: str) -> list[str]:
        if lowercase:
            text = text.lower()
        if table is not None:
            text = text.translate(table)
        return list(split(text))

    return tokenize


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


def _buckets_of(strings: list[str], num_buckets: int, memo: dict[str, int], memo_limit: int) -> np.ndarray:
    """:func:`ngram_bucket` of each string, through ``memo`` (cleared when it would outgrow ``memo_limit``)."""
    got = list(map(memo.get, strings))
    missing = [i for i, b in enumerate(got) if b is None]
    if missing:
        if len(memo) + len(missing) > memo_limit:
            memo.clear()
        for i in missing:
            got[i] = memo[strings[i]] = ngram_bucket(strings[i], num_buckets)
    return np.fromiter(got, dtype=np.int64, count=len(got))


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of an int64 array (hash-based, first-appearance order)."""
    import pandas as pd  # a dependency of ``datasets``

    codes, uniques = pd.factorize(keys)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=np.int64)


def hashed_ngram_coo(token_lists: Sequence[Sequence[str]], num_buckets: int, n: int,
                     memo: dict[str, int] | None = None,
                     memo_limit: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ids of all 1..n-grams (joined by one space) of each token list, as COO ``(rows, buckets)`` (int64).

    Entries are ordered by n-gram order, then row, then position (all unigrams first), so each row's entries keep the
    order unigrams, bigrams, ... of that row: sums per row (``np.bincount(rows, weights=...)``) do not depend on how
    rows are batched. Each distinct n-gram string of the batch is hashed once (``memo`` caches string -> bucket
    across calls and is cleared when it would hold more than ``memo_limit`` strings).

    Example:
        >>> rows, buckets = hashed_ngram_coo([["a", "b"], ["c"]], 1000, 2)
        >>> rows.tolist(), buckets.tolist() == [ngram_bucket(g, 1000) for g in ["a", "b", "c", "a b"]]
        ([0, 0, 1, 0], True)
    """
    from itertools import chain

    memo = {} if memo is None else memo
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    flat = list(chain.from_iterable(token_lists))
    if not flat:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    words = list(dict.fromkeys(flat))
    index = {w: i for i, w in enumerate(words)}
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)[doc]  # one past the last token of each token's row
    unigram = _buckets_of(words, num_buckets, memo, memo_limit)
    rows, out = [doc], [unigram[ids]]
    codes, strings = ids, words  # the (size-1)-gram starting at each position, as an index into ``strings``
    radix = len(words)  # key of a gram = (code of its first size-1 words) * radix + id of its last word
    for size in range(2, n + 1):
        start = np.arange(len(flat) - size + 1, dtype=np.int64)
        start = start[start + size <= ends[start]]
        if not len(start):
            break
        gram_codes, uniques = _factorize(codes[start] * radix + ids[start + size - 1])
        strings = [f"{strings[k // radix]} {words[k % radix]}" for k in uniques.tolist()]
        rows.append(doc[start])
        out.append(_buckets_of(strings, num_buckets, memo, memo_limit)[gram_codes])
        codes = np.zeros(len(flat), dtype=np.int64)
        codes[start] = gram_codes
    return np.concatenate(rows), np.concatenate(out)


def check_positive(value: Any, name: str, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` / ``TypeError`` unless ``value`` is a positive (or non-negative) number."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__}.")
    if value < 0 or (value == 0 and not allow_zero) or not np.isfinite(value):
        raise ValueError(f"{name}={value} must be {'>= 0' if allow_zero else '> 0'} and finite.")
