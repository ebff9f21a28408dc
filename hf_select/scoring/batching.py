"""Grouping encoded examples into batches without padding waste, and the tensors of one forward pass.

Three planning modes (:func:`plan_batches`), all giving the same per-example scores (tested):

- ``"bucketed"``: examples sorted by length, cut into batches whose padded size (``rows x longest``) stays under a
  token budget (and ``max_rows``); padding is only the few tokens between neighbours in length order.
- ``"packed"``: examples concatenated into rows of at most ``max_tokens`` tokens (first-fit decreasing),
  ``position_ids`` restarting at 0 for each example and no attention mask: zero padding. transformers builds the
  block-diagonal causal mask from the position ids, which is exact only for some architectures:
  :mod:`hf_select.scoring.packing` decides where packing may be used.
- ``"single"``: one example per forward (the reference).

:func:`collate` lays a batch out packed (one row) or padded (right padding). Every batch carries, for the positions
whose next token is scored, a flat ``gather_index`` into the ``[rows x length]`` hidden states, the ``labels`` (next
tokens) and ``segments`` (which example of the batch, an index into ``Batch.rows``), so the LM head runs only on
scored positions (completion-only scoring skips prompts entirely).

Example:
    >>> from hf_select.scoring.batching import collate, plan_batches
    >>> from hf_select.scoring.encoding import TokenizedExamples
    >>> ex = TokenizedExamples.from_ids([[5, 6, 7], [8, 9], [1, 2, 3, 4]])
    >>> plan_batches(ex.lengths, "packed", max_tokens=6)
    [[2, 1], [0]]
    >>> b = collate(ex, [2, 1], "packed")
    >>> b.position_ids.tolist(), b.labels.tolist(), b.segments.tolist()
    ([[0, 1, 2, 3, 0, 1]], [2, 3, 4, 9], [0, 0, 0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encoding import IGNORE_INDEX, TokenizedExamples

MODES = ("bucketed", "packed", "single")
# Largest share of padding tokens a bucketed batch may hold before it is closed.
DEFAULT_MAX_PADDING = 0.1


def first_fit_decreasing(lengths: np.ndarray, order: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Bins of the indices ``order`` (longest first), each holding at most ``max_tokens`` tokens; a longer example
    gets a bin of its own."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
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


def plan_batches(lengths: Sequence[int] | np.ndarray, mode: str, max_tokens: int | None,
                 rows: Sequence[int] | None = None, *, max_rows: int | None = None,
                 max_padding: float | None = DEFAULT_MAX_PADDING, sort: bool = True) -> list[list[int]]:
    """Group example indices into batches (lists of indices into ``lengths``), longest first.

    ``rows`` restricts the plan to those examples (default: all). A single example longer than ``max_tokens`` gets a
    batch of its own. In ``"bucketed"`` mode a batch is also closed at ``max_rows`` rows, and when its padding would
    exceed ``max_padding`` (a fraction of its padded size; ``None``: no limit), so a long-tailed length distribution
    does not pad short examples to the longest. ``max_tokens=None`` (bucketed only): no token budget.
    ``sort=False`` keeps the given order (bucketed only).
    """
    if mode not in MODES:
        raise ValueError(f"batching mode {mode!r} is not known; use one of {MODES}.")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}.")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}.")
    lengths = np.asarray(lengths, dtype=np.int64)
    candidates = list(range(len(lengths))) if rows is None else [int(r) for r in rows]
    order = sorted(candidates, key=lambda i: (-int(lengths[i]), i)) if sort or mode != "bucketed" else candidates
    if mode == "single":
        return [[i] for i in order]
    if mode == "packed":
        if max_tokens is None:
            raise ValueError("packed batches need max_tokens (tokens per packed row).")
        return first_fit_decreasing(lengths, order, max_tokens)
    batches: list[list[int]] = []
    current: list[int] = []
    real = width = 0
    for i in order:
        n = int(lengths[i])
        new_width = max(width, n)
        padded = (len(current) + 1) * new_width
        full = (max_tokens is not None and padded > max_tokens) or (max_rows is not None and len(current) >= max_rows)
        too_padded = max_padding is not None and padded - real - n > max_padding * padded
        if current and (full or too_padded):
            batches.append(current)
            current, real, new_width = [], 0, n
        current.append(i)
        real += n
        width = new_width
    if current:
        batches.append(current)
    return batches


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

    @property
    def packed(self) -> bool:
        return self.input_ids.shape[0] == 1 and len(self.rows) > 1 and self.attention_mask is None \
            and bool((self.position_ids[0, 1:] == 0).any())

    def to(self, device: Any) -> Batch:
        move = (lambda t: None if t is None else t.to(device))
        return Batch(move(self.input_ids), move(self.position_ids), move(self.attention_mask), move(self.gather_index),
                     move(self.labels), move(self.segments), self.rows, self.real_tokens, self.padded_tokens)

    def model_inputs(self) -> dict[str, Any]:
        """Keyword arguments of the forward pass (``use_cache=False``: needed for packed rows with SDPA / eager)."""
        kwargs = {"input_ids": self.input_ids, "position_ids": self.position_ids, "use_cache": False}
        if self.attention_mask is not None:
            kwargs["attention_mask"] = self.attention_mask
        return kwargs

    def dense_labels(self) -> Any:
        """``[rows, length]`` next-token labels (:data:`IGNORE_INDEX` where nothing is scored)."""
        import torch

        flat = torch.full((self.input_ids.numel(),), IGNORE_INDEX, dtype=torch.long, device=self.labels.device)
        flat[self.gather_index] = self.labels
        return flat.reshape(self.input_ids.shape)


def collate(examples: TokenizedExamples, rows: Sequence[int], mode: str, *, pad_token_id: int = 0,
            always_mask: bool = False) -> Batch:
    """Tensors for the examples ``rows``: one packed row (``mode="packed"``) or right-padded rows (any other mode).

    A padded batch without padding gets no attention mask (SDPA's causal fast path) unless ``always_mask``.
    """
    import torch

    rows = [int(r) for r in rows]
    ids = [examples.input_ids[i] for i in rows]
    masks = [examples.target_mask[i] for i in rows]
    lengths = [len(x) for x in ids]
    if mode == "packed":
        width = total = sum(lengths)
        input_ids = torch.from_numpy(np.concatenate(ids) if ids else np.zeros(0, np.int64)).unsqueeze(0)
        position_ids = torch.from_numpy(np.concatenate([np.arange(n) for n in lengths])).unsqueeze(0)
        starts = np.cumsum([0] + lengths[:-1])
        attention_mask = None
        padded_tokens = total
    else:
        width = max(lengths) if lengths else 0
        input_ids = torch.full((len(ids), width), pad_token_id, dtype=torch.long)
        position_ids = torch.arange(width).unsqueeze(0).expand(len(ids), width).contiguous()
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, x in enumerate(ids):
            input_ids[r, :len(x)] = torch.from_numpy(x)
            attention_mask[r, :len(x)] = 1
        if all(n == width for n in lengths) and not always_mask:
            attention_mask = None
        starts = np.arange(len(ids)) * width
        padded_tokens = width * len(ids)
    gather, labels, segments = [], [], []
    for r, (x, m, s) in enumerate(zip(ids, masks, starts)):
        targets = np.flatnonzero(m)  # token j is predicted by position j - 1
        gather.append(s + targets - 1)
        labels.append(x[targets])
        segments.append(np.full(len(targets), r, dtype=np.int64))
    cat = (lambda parts: torch.from_numpy(np.concatenate(parts).astype(np.int64)) if parts else
           torch.zeros(0, dtype=torch.long))
    return Batch(input_ids, position_ids, attention_mask, cat(gather), cat(labels), cat(segments), rows,
                 real_tokens=int(sum(lengths)), padded_tokens=int(padded_tokens))
