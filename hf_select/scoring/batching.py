"""Tokenising examples for scoring and grouping them into batches without padding waste.

Three batching modes, all giving the same per-example scores (tested):

- ``"bucketed"``: examples sorted by length, cut into batches whose padded size (``rows x longest``) stays under a
  token budget; padding is only the few tokens between neighbours in length order.
- ``"packed"``: examples concatenated into rows of at most ``max_tokens`` tokens (first-fit decreasing),
  ``position_ids`` restarting at 0 for each example and no attention mask: zero padding. transformers builds the
  block-diagonal causal mask from the position ids (SDPA / eager need ``use_cache=False``; flash-attention 2 uses the
  varlen kernel).
- ``"single"``: one example per forward (the reference).

Every batch carries, for the positions whose next token is scored, a flat ``gather_index`` into the
``[rows x length]`` hidden states, the ``labels`` (next tokens) and ``segments`` (example index), so the LM head runs
only on scored positions (completion-only scoring skips prompts entirely).

Example:
    >>> from hf_select.scoring.batching import TokenizedExamples, plan_batches, collate
    >>> ex = TokenizedExamples.from_ids([[5, 6, 7], [8, 9], [1, 2, 3, 4]])
    >>> plan_batches(ex.lengths, "packed", max_tokens=6)
    [[2, 1], [0]]
    >>> b = collate(ex, [2, 1], "packed")
    >>> b.position_ids.tolist(), b.labels.tolist(), b.segments.tolist()
    ([[0, 1, 2, 3, 0, 1]], [2, 3, 4, 9], [2, 2, 2, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODES = ("bucketed", "packed", "single")
# Largest share of padding tokens a bucketed batch may hold before it is closed.
DEFAULT_MAX_PADDING = 0.1


@dataclass
class TokenizedExamples:
    """Token ids of each example and which of its tokens are scored (``target_mask[i][j]``: token j's NLL counts).

    Token 0 of an example is never scored (nothing precedes it). ``num_truncated`` / ``truncated_rows`` record
    examples cut to ``max_length``; ``original_lengths`` their token counts before the cut.
    """

    input_ids: list[np.ndarray]
    target_mask: list[np.ndarray]
    original_lengths: np.ndarray
    max_length: int | None = None
    truncated_rows: list[int] = field(default_factory=list)

    @classmethod
    def from_ids(cls, ids: Sequence[Sequence[int]], max_length: int | None = None) -> "TokenizedExamples":
        """Wrap already tokenised examples (all tokens after the first scored)."""
        arrays = [np.asarray(x, dtype=np.int64) for x in ids]
        original = np.array([len(a) for a in arrays], dtype=np.int64)
        truncated = [i for i, a in enumerate(arrays) if max_length is not None and len(a) > max_length]
        if max_length is not None:
            arrays = [a[:max_length] for a in arrays]
        masks = [_default_mask(len(a)) for a in arrays]
        return cls(arrays, masks, original, max_length, truncated)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(a) for a in self.input_ids], dtype=np.int64)

    @property
    def num_targets(self) -> np.ndarray:
        """Scored tokens per example (0 for empty or one-token examples, or an empty completion)."""
        return np.array([int(m.sum()) for m in self.target_mask], dtype=np.int64)

    @property
    def num_truncated(self) -> int:
        return len(self.truncated_rows)

    def subset(self, rows: Sequence[int]) -> "TokenizedExamples":
        rows = list(rows)
        keep = set(rows)
        return TokenizedExamples([self.input_ids[i] for i in rows], [self.target_mask[i] for i in rows],
                                 self.original_lengths[rows], self.max_length,
                                 [rows.index(i) for i in self.truncated_rows if i in keep])


def _default_mask(n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    if n:
        mask[0] = False
    return mask


def tokenize_examples(texts: Sequence[str] | Sequence[tuple[str, str]], tokenizer: Any, *,
                      max_length: int | None = None, completion_only: bool = False,
                      add_special_tokens: bool = True) -> TokenizedExamples:
    """Tokenise texts (or ``(prompt, completion)`` pairs) and mark the scored tokens.

    Args:
        texts: strings, or pairs whose concatenation is the example (needed for ``completion_only``).
        tokenizer: a HF tokenizer (fast tokenizers give exact prompt/completion boundaries via offsets).
        max_length: keep at most this many tokens per example (the rest is cut; counted in ``truncated_rows``).
        completion_only: score only tokens of the completion part (a token straddling the boundary counts as
            completion).
        add_special_tokens: let the tokenizer add its BOS/EOS tokens, as a plain ``tokenizer(text)`` call does.
    """
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}.")
    pairs = [_as_pair(t, i) for i, t in enumerate(texts)]
    full = [p + c for p, c in pairs]
    use_offsets = completion_only and getattr(tokenizer, "is_fast", False)
    enc = tokenizer(full, add_special_tokens=add_special_tokens, return_offsets_mapping=use_offsets,
                    return_attention_mask=False)
    ids_list, masks, original, truncated = [], [], [], []
    for i, ids in enumerate(enc["input_ids"]):
        ids = np.asarray(ids, dtype=np.int64)
        mask = _default_mask(len(ids))
        if completion_only and pairs[i][0]:
            boundary = len(pairs[i][0])
            if use_offsets:
                ends = np.array([e for _, e in enc["offset_mapping"][i]], dtype=np.int64)
                starts = np.array([s for s, _ in enc["offset_mapping"][i]], dtype=np.int64)
                special = (starts == 0) & (ends == 0)
                in_completion = (ends > boundary) & ~special
            else:
                n_prompt = len(tokenizer([pairs[i][0]], add_special_tokens=add_special_tokens)["input_ids"][0])
                in_completion = np.arange(len(ids)) >= n_prompt
            mask &= in_completion
        original.append(len(ids))
        if max_length is not None and len(ids) > max_length:
            truncated.append(i)
            ids, mask = ids[:max_length], mask[:max_length]
        ids_list.append(ids)
        masks.append(mask)
    return TokenizedExamples(ids_list, masks, np.array(original, dtype=np.int64), max_length, truncated)


def _as_pair(item: Any, i: int) -> tuple[str, str]:
    if isinstance(item, str):
        return "", item
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return item[0], item[1]
    raise TypeError(f"Example {i}: expected a string or a (prompt, completion) pair of strings, got {item!r:.80}.")


def plan_batches(lengths: Sequence[int] | np.ndarray, mode: str, max_tokens: int,
                 rows: Sequence[int] | None = None, *, max_padding: float = DEFAULT_MAX_PADDING) -> list[list[int]]:
    """Group example indices into batches (lists of indices into ``lengths``), longest first.

    ``rows`` restricts the plan to those examples (default: all). A single example longer than ``max_tokens`` gets a
    batch of its own. In ``"bucketed"`` mode a batch is also closed when its padding would exceed ``max_padding``
    (a fraction of its padded size), so a long-tailed length distribution does not pad short examples to the longest.
    """
    if mode not in MODES:
        raise ValueError(f"batching mode {mode!r} is not known; use one of {MODES}.")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}.")
    lengths = np.asarray(lengths, dtype=np.int64)
    candidates = np.arange(len(lengths)) if rows is None else np.asarray(list(rows), dtype=np.int64)
    order = sorted(candidates.tolist(), key=lambda i: (-int(lengths[i]), i))
    if mode == "single":
        return [[i] for i in order]
    if mode == "bucketed":
        batches: list[list[int]] = []
        current: list[int] = []
        real = 0
        for i in order:  # descending: the first member is the longest
            padded = (len(current) + 1) * int(lengths[current[0]]) if current else 0
            if current and (padded > max_tokens or padded - real - int(lengths[i]) > max_padding * padded):
                batches.append(current)
                current, real = [], 0
            current.append(i)
            real += int(lengths[i])
        if current:
            batches.append(current)
        return batches
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:  # first-fit decreasing
        n = int(lengths[i])
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(max_tokens - n)
    return bins


@dataclass
class Batch:
    """Tensors of one forward pass plus the flat description of its scored positions."""

    input_ids: Any
    position_ids: Any
    attention_mask: Any | None
    gather_index: Any
    labels: Any
    segments: Any
    rows: list[int]
    real_tokens: int
    padded_tokens: int

    def to(self, device: Any) -> "Batch":
        move = (lambda t: None if t is None else t.to(device))
        return Batch(move(self.input_ids), move(self.position_ids), move(self.attention_mask), move(self.gather_index),
                     move(self.labels), move(self.segments), self.rows, self.real_tokens, self.padded_tokens)


def collate(examples: TokenizedExamples, rows: Sequence[int], mode: str, *, pad_token_id: int = 0,
            segment_offset: int = 0) -> Batch:
    """Tensors for the examples ``rows`` (``segments`` are ``row index + segment_offset``)."""
    import torch

    rows = list(rows)
    ids = [examples.input_ids[i] for i in rows]
    masks = [examples.target_mask[i] for i in rows]
    lengths = [len(x) for x in ids]
    if mode == "packed":
        total = sum(lengths)
        input_ids = torch.from_numpy(np.concatenate(ids)).unsqueeze(0)
        position_ids = torch.from_numpy(np.concatenate([np.arange(n) for n in lengths])).unsqueeze(0)
        starts = np.cumsum([0] + lengths[:-1])
        attention_mask = None
        width = total
    else:
        width = max(lengths)
        input_ids = torch.full((len(ids), width), pad_token_id, dtype=torch.long)
        position_ids = torch.arange(width).unsqueeze(0).expand(len(ids), width).contiguous()
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, x in enumerate(ids):
            input_ids[r, :len(x)] = torch.from_numpy(x)
            attention_mask[r, :len(x)] = 1
        if all(n == width for n in lengths):
            attention_mask = None  # no padding: lets SDPA use its causal fast path
        starts = np.arange(len(ids)) * width
    gather, labels, segments = [], [], []
    for r, (x, m, s) in enumerate(zip(ids, masks, starts)):
        targets = np.flatnonzero(m)  # token j is predicted by position j - 1
        gather.append(s + targets - 1)
        labels.append(x[targets])
        segments.append(np.full(len(targets), rows[r] + segment_offset, dtype=np.int64))
    cat = (lambda parts: torch.from_numpy(np.concatenate(parts).astype(np.int64)) if parts else
           torch.zeros(0, dtype=torch.long))
    return Batch(input_ids, position_ids, attention_mask, cat(gather), cat(labels), cat(segments), rows,
                 real_tokens=int(sum(lengths)), padded_tokens=int(width * (1 if mode == "packed" else len(ids))))
