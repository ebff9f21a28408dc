"""Trainer callbacks: a FLOP tally with a budget stop, online re-selection, and the sampler they drive.

- :class:`FlopBudgetCallback` counts training FLOPs from the real token counts of every batch (per-example lengths read
  from ``attention_mask`` / ``position_ids``, so padding is not counted and packed examples are told apart), with the
  formulas of :mod:`hf_select.cost.flops`; it logs ``flops/selection``, ``flops/train``, ``flops/total`` and stops
  training (saving a checkpoint) at the first optimizer step where ``selection + train`` reaches ``budget_flops``.
- :class:`ReselectionCallback` asks the trainer to re-select every epoch or every N steps.
- :class:`SelectionSampler` yields dataset positions of the current selection (shuffled or in priority order); a
  re-selection swaps its positions, mid-epoch too (rows not yet seen this epoch come first).

Example:
    >>> from hf_select.trainer.callbacks import FlopBudgetCallback, batch_lengths
    >>> batch_lengths({"attention_mask": [[1, 1, 1, 0], [1, 1, 0, 0]]})
    [3, 2]
    >>> cb = FlopBudgetCallback(lambda lengths: 6.0 * 10 * sum(lengths), budget_flops=1000, selection_flops=100)
    >>> cb.observe([3, 2]); cb.logs()
    {'flops/selection': 100.0, 'flops/train': 300.0, 'flops/total': 400.0}
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..import_utils import require

require("transformers", "hf_select.trainer")

from torch.utils.data import Sampler  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from ..cost.flops import lengths_from_position_ids  # noqa: E402


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def batch_lengths(inputs: Any) -> list[int]:
    """Real tokens per example of a collated batch.

    ``attention_mask`` gives each row's tokens (padding excluded); when ``position_ids`` restart inside a row (packing,
    padding-free batches) the row is split into its examples. Without either, every row counts its full width.
    """
    mask = inputs.get("attention_mask") if hasattr(inputs, "get") else None
    pos = inputs.get("position_ids") if hasattr(inputs, "get") else None
    ids = inputs["input_ids"] if mask is None and pos is None else None
    if mask is not None:
        m = _to_numpy(mask)
        m = m.reshape(-1, m.shape[-1]) if m.ndim > 1 else m.reshape(1, -1)
        if m.ndim != 2:  # 4-D custom masks: fall back to the shape
            ids = inputs["input_ids"]
        else:
            out: list[int] = []
            p = _to_numpy(pos).reshape(m.shape[0], -1) if pos is not None else None
            for r in range(m.shape[0]):
                n = int(m[r].sum())
                if p is not None and n > 0:
                    real = p[r][m[r].astype(bool)]
                    out.extend(lengths_from_position_ids(real))
                else:
                    out.append(n)
            return out
    if pos is not None:
        return lengths_from_position_ids(_to_numpy(pos))
    shape = tuple(_to_numpy(ids).shape)
    rows, width = (1, shape[0]) if len(shape) == 1 else (int(np.prod(shape[:-1])), shape[-1])
    return [int(width)] * rows


class FlopBudgetCallback(TrainerCallback):
    """Tally training FLOPs from real token counts; stop when selection + training reaches ``budget_flops``.

    Args:
        flops_fn: ``lengths -> FLOPs`` of one forward+backward over examples of those token counts (e.g.
            ``functools.partial(hf_select.cost.flops.train_flops, model.config)``).
        budget_flops: total budget (selection + training); ``None`` only counts.
        selection_flops: FLOPs already spent on selection (re-selections add to it with :meth:`add_selection`).

    The trainer feeds each micro-batch with :meth:`observe` (``SelectionMixin.training_step`` does); the check runs
    after each optimizer step, so training stops at the first step where the total reaches the budget (it may pass it
    by at most one step).
    """

    def __init__(self, flops_fn: Callable[[list[int]], float], *, budget_flops: float | None = None,
                 selection_flops: float = 0.0) -> None:
        if budget_flops is not None and not budget_flops > 0:
            raise ValueError(f"budget_flops must be positive, got {budget_flops!r}.")
        self.flops_fn = flops_fn
        self.budget_flops = None if budget_flops is None else float(budget_flops)
        self.selection_flops = float(selection_flops)
        self.train_flops = 0.0
        self.train_tokens = 0
        self.train_examples = 0
        self.stopped_by_budget = False
        self.stop_step: int | None = None
        self.train_seconds = 0.0
        self._pending = np.zeros(3)  # flops, tokens, examples of the current optimizer step (this process)
        self._start: float | None = None

    @property
    def total_flops(self) -> float:
        return self.selection_flops + self.train_flops

    def observe(self, lengths: list[int]) -> None:
        """Count one micro-batch of examples with these token counts."""
        self._pending += (float(self.flops_fn(lengths)), float(sum(lengths)), float(len(lengths)))
        if not _distributed():
            self._commit()

    def add_selection(self, flops: float) -> None:
        self.selection_flops += float(flops)

    def _commit(self) -> None:
        pending = self._pending
        if _distributed():
            import torch
            import torch.distributed as dist

            t = torch.tensor(pending, dtype=torch.float64)
            if dist.get_backend() == "nccl":
                t = t.cuda()
            dist.all_reduce(t)
            pending = t.cpu().numpy()
        self.train_flops += float(pending[0])
        self.train_tokens += int(pending[1])
        self.train_examples += int(pending[2])
        self._pending = np.zeros(3)

    def logs(self) -> dict[str, float]:
        return {"flops/selection": self.selection_flops, "flops/train": self.train_flops,
                "flops/total": self.total_flops}

    def budget_reached(self) -> bool:
        return self.budget_flops is not None and self.total_flops >= self.budget_flops

    # -- TrainerCallback hooks -----------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if _distributed():
            self._commit()
        if self.budget_reached() and not self.stopped_by_budget:
            self.stopped_by_budget = True
            self.stop_step = int(state.global_step)
            control.should_training_stop = True
            control.should_save = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self._start = None
        return control


def _distributed() -> bool:
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return False
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class ReselectionCallback(TrainerCallback):
    """Call ``reselect()`` (a trainer's bound method) every epoch (``every="epoch"``) or every ``every`` steps."""

    def __init__(self, reselect: Callable[[], Any], every: str | int) -> None:
        if not (every == "epoch" or (isinstance(every, int) and not isinstance(every, bool) and every > 0)):
            raise ValueError(f"refresh must be 'epoch' or a positive number of steps, got {every!r}.")
        self.reselect = reselect
        self.every = every
        self.calls = 0

    def on_step_end(self, args, state, control, **kwargs):
        if isinstance(self.every, int) and state.global_step % self.every == 0 and not control.should_training_stop \
                and (state.max_steps <= 0 or state.global_step < state.max_steps):
            self.calls += 1
            self.reselect()
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.every == "epoch" and not control.should_training_stop and (
                state.max_steps <= 0 or state.global_step < state.max_steps):
            self.calls += 1
            self.reselect()
        return control


class SelectionSampler(Sampler):
    """Positions of the selected rows in the training dataset: shuffled each epoch, or in the given (priority) order.

    :meth:`set_positions` swaps the selection; an epoch in progress continues with the new selection's rows that it
    has not yielded yet, then the others, so its length (``len(self)``) does not change.
    """

    def __init__(self, positions: Any, *, shuffle: bool, seed: int = 0) -> None:
        self.positions = np.asarray(positions, dtype=np.int64)
        if self.positions.size == 0:
            raise ValueError("No selected row is left in the training dataset (all dropped by preprocessing?).")
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.version = 0
        self.history: list[np.ndarray] = [self.positions.copy()]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_positions(self, positions: Any) -> None:
        new = np.asarray(positions, dtype=np.int64)
        if new.size == 0:
            raise ValueError("A re-selection left no row to train on.")
        self.positions = new
        self.version += 1
        self.history.append(new.copy())

    def __len__(self) -> int:
        return int(self.positions.size)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self.positions
        rng = np.random.default_rng([self.seed, self.epoch, self.version])
        return self.positions[rng.permutation(self.positions.size)]

    def __iter__(self):
        n = len(self)
        seen: set[int] = set()
        emitted = 0
        while emitted < n:
            version = self.version
            order = self._order()
            order = [int(p) for p in order if int(p) not in seen] + [int(p) for p in order if int(p) in seen]
            for p in order:
                if emitted >= n or self.version != version:
                    break
                seen.add(p)
                emitted += 1
                yield p
        self.epoch += 1
