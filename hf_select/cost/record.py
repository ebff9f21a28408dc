"""What a selection cost: FLOPs (analytic), seconds (measured) and tokens, stage by stage.

Every selector fills a :class:`SelectionCost` while it scores; the planner, the trainer callbacks, the Hub cost card and
the Space all read this one record.

Example:
    >>> from hf_select.cost.record import SelectionCost, StageCost
    >>> cost = SelectionCost(stages=[StageCost("forward", flops=2e12, seconds=1.5, tokens=10_000)])
    >>> cost.flops, cost.tokens
    (2000000000000.0, 10000)
    >>> SelectionCost.from_dict(cost.to_dict()) == cost
    True
    >>> print(cost)
    stage    FLOPs  seconds  tokens
    -------  -----  -------  ------
    forward  2e+12  1.500 s  10,000
    total    2e+12  1.500 s  10,000
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageCost:
    """One step of a selection (e.g. ``"encode_pool"``, ``"warmup_train"``)."""

    name: str
    flops: float = 0.0
    seconds: float = 0.0
    tokens: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.flops = float(self.flops)
        self.seconds = float(self.seconds)
        self.tokens = int(self.tokens)


@dataclass
class SelectionCost:
    """FLOPs, seconds and tokens spent by a selection, with a per-stage breakdown.

    ``train_flops`` is the *predicted* training cost of the chosen subset when it is known (budgeted selection, trainer);
    ``budget_flops`` the budget the selection was planned under.
    """

    stages: list[StageCost] = field(default_factory=list)
    hardware: dict[str, Any] = field(default_factory=dict)
    train_flops: float | None = None
    budget_flops: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def flops(self) -> float:
        """Selection FLOPs: the sum over stages."""
        return float(sum(s.flops for s in self.stages))

    @property
    def seconds(self) -> float:
        return float(sum(s.seconds for s in self.stages))

    @property
    def tokens(self) -> int:
        return int(sum(s.tokens for s in self.stages))

    @property
    def total_flops(self) -> float:
        """Selection plus (predicted) training FLOPs."""
        return self.flops + (self.train_flops or 0.0)

    def add_stage(self, name: str, *, flops: float = 0.0, seconds: float = 0.0, tokens: int = 0, **detail: Any) -> StageCost:
        stage = StageCost(name=name, flops=flops, seconds=seconds, tokens=tokens, detail=dict(detail))
        self.stages.append(stage)
        return stage

    @contextmanager
    def stage(self, name: str, *, flops: float = 0.0, tokens: int = 0, **detail: Any) -> Iterator[StageCost]:
        """Measure the wall time of a block as a stage; the block may update ``flops``/``tokens`` on the yielded stage."""
        record = self.add_stage(name, flops=flops, tokens=tokens, **detail)
        start = time.perf_counter()
        try:
            yield record
        finally:
            record.seconds += time.perf_counter() - start

    def merge(self, other: SelectionCost, prefix: str = "") -> SelectionCost:
        """Append the stages of ``other`` (names prefixed) to this record and return it."""
        for s in other.stages:
            self.stages.append(StageCost(prefix + s.name, s.flops, s.seconds, s.tokens, dict(s.detail)))
        return self

    def __str__(self) -> str:
        """A small table (stage, FLOPs, seconds, tokens) with a total row, then the training and budget lines."""
        from .formatting import format_count, format_flops, format_seconds, format_table

        rows = [[s.name, format_flops(s.flops), format_seconds(s.seconds), format_count(s.tokens)] for s in self.stages]
        rows.append(["total", format_flops(self.flops), format_seconds(self.seconds), format_count(self.tokens)])
        lines = [format_table(["stage", "FLOPs", "seconds", "tokens"], rows)]
        if self.train_flops is not None:
            convention = self.notes.get("train_convention")
            lines.append(f"predicted training: {format_flops(self.train_flops)} FLOPs"
                         + (f" ({convention} convention)" if convention else "")
                         + f"; selection + training: {format_flops(self.total_flops)} FLOPs")
        if self.budget_flops is not None:
            lines.append(f"budget: {format_flops(self.budget_flops)} FLOPs")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "seconds": self.seconds,
            "tokens": self.tokens,
            "train_flops": self.train_flops,
            "total_flops": self.total_flops,
            "budget_flops": self.budget_flops,
            "stages": [asdict(s) for s in self.stages],
            "hardware": dict(self.hardware),
            "notes": dict(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectionCost:
        return cls(
            stages=[StageCost(**s) for s in data.get("stages", [])],
            hardware=dict(data.get("hardware", {})),
            train_flops=data.get("train_flops"),
            budget_flops=data.get("budget_flops"),
            notes=dict(data.get("notes", {})),
        )


def hardware_info(device: Any = None) -> dict[str, Any]:
    """Describe the machine a cost was measured on (no heavy import unless torch is already loaded)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    if device is not None:
        info["device"] = str(device)
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
