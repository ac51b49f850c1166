"""Learning rate schedules stepped once per optimizer step.

``training_steps=None`` (the CLI default) is filled in by the CLI from the trainer's
estimated number of optimizer steps (``trainer.max_steps``, or epochs times batches); a run
bounded only by time has no such number, and the schedule then holds the lr after warmup.
Invalid values (negative, non-integer or non-finite steps, ``num_cycles`` or ``min_fraction``
out of range) raise ``ValueError`` naming the argument; ``warmup_steps`` beyond
``training_steps`` (a short trial run of a long configuration) is logged as a warning.
"""

from __future__ import annotations

import logging
import math
import numbers

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

logger = logging.getLogger(__name__)

__all__ = ["ConstantWithWarmupLR", "CosineWithWarmupLR"]


def _check(name: str, value: int | None, minimum: int = 0, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer number of steps, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} ({value}) must be >= {minimum}")


class ConstantWithWarmupLR(LambdaLR):
    """Linear warmup from 0 over ``warmup_steps``, then the optimizer's lr."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 0, last_epoch: int = -1) -> None:
        _check("warmup_steps", warmup_steps)
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, self._factor, last_epoch)

    def _factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return 1.0


class CosineWithWarmupLR(LambdaLR):
    """Linear warmup over ``warmup_steps``, then half a cosine down to ``min_fraction`` of the lr
    at ``training_steps``."""

    def __init__(
        self,
        optimizer: Optimizer,
        training_steps: int | None = None,
        warmup_steps: int = 0,
        num_cycles: float = 0.5,
        min_fraction: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        _check("training_steps", training_steps, minimum=1, optional=True)
        _check("warmup_steps", warmup_steps)
        if training_steps is not None and warmup_steps > training_steps:  # e.g. a short trial run
            logger.warning(
                "warmup_steps (%d) exceeds training_steps (%d): the learning rate never reaches its peak",
                warmup_steps,
                training_steps,
            )
        if not (isinstance(num_cycles, numbers.Real) and math.isfinite(num_cycles) and num_cycles > 0):
            raise ValueError(f"num_cycles ({num_cycles!r}) must be a finite number > 0")
        if not (isinstance(min_fraction, numbers.Real) and 0.0 <= min_fraction <= 1.0):
            raise ValueError(f"min_fraction ({min_fraction!r}) must be in [0, 1]")
        self.training_steps = training_steps
        self.warmup_steps = warmup_steps
        self.num_cycles = num_cycles
        self.min_fraction = min_fraction
        super().__init__(optimizer, self._factor, last_epoch)

    def _factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.training_steps is None:
            return 1.0
        decay_steps = max(1, self.training_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * self.num_cycles * 2.0 * progress))
        return self.min_fraction + (1.0 - self.min_fraction) * cosine
