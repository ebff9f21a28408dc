"""Tokenised examples with labels, and how gradient passes batch them (padded rows or packed rows).

An :class:`EncodedExample` holds the token ids of one example and its labels (``-100`` where no loss is taken, e.g.
the prompt). :func:`collate` right-pads a batch; :func:`collate_packed` puts examples back to back in one row with
``position_ids`` restarting per example; :func:`pack_batches` (first-fit decreasing under a token budget) and
:func:`length_batches` (similar lengths together) plan the batches.

Example:
    >>> from hf_select.scoring.encoded import EncodedExample, collate_packed, pack_batches
    >>> ex = [EncodedExample([1, 5, 9], [-100, 5, 9]), EncodedExample([1, 7], [-100, 7])]
    >>> pack_batches([3, 2, 4], max_tokens=5)
    [[2], [0, 1]]
    >>> b = collate_packed(ex)
    >>> b["position_ids"].tolist(), b["labels"].tolist()
    ([[0, 1, 2, 0, 1]], [[-100, 5, 9, -100, 7]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100


@dataclass
class EncodedExample:
    """Token ids of one example and its labels (``-100`` where no loss is taken, e.g. the prompt)."""

    input_ids: list[int]
    labels: list[int]

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and labels ({len(self.labels)}) differ in length.")

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for lab in self.labels[1:] if lab != IGNORE_INDEX)


def collate(examples: Sequence[EncodedExample], pad_token_id: int = 0, device: Any = None) -> dict[str, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` tensors."""
    import torch

    length = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def collate_packed(examples: Sequence[EncodedExample], device: Any = None) -> dict[str, Any]:
    """One row holding all ``examples`` back to back: ``position_ids`` restart at 0 per example and no attention mask
    (transformers then builds the block-diagonal causal mask; needs ``use_cache=False``). ``segments`` gives the
    example of each position; the first label of every example is masked so no example predicts its neighbour."""
    import torch

    ids, labels, pos, seg = [], [], [], []
    for i, e in enumerate(examples):
        ids += e.input_ids
        labels += [IGNORE_INDEX] + list(e.labels[1:])
        pos += list(range(len(e.input_ids)))
        seg += [i] * len(e.input_ids)
    batch = {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]), "position_ids": torch.tensor([pos]),
             "segments": torch.tensor([seg])}
    batch = {k: v.to(device) for k, v in batch.items()} if device is not None else batch
    batch["n_examples"] = len(examples)
    return batch


def pack_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """First-fit-decreasing bins of example indices, each at most ``max_tokens`` tokens (a longer example alone)."""
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive for packed batches, got {max_tokens}.")
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(max_tokens - lengths[i])
    return bins


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), at most ``batch_size`` rows and, when given,
    ``max_tokens`` padded tokens per batch."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= batch_size or (max_tokens and width * (len(current) + 1) > max_tokens)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
