"""Learning-rate drops on a detected plateau, after dlib's ``count_steps_without_decrease``.

Instead of a fixed schedule (which needs the run length known in advance), the loss history since
the last drop is tested: how many of the most recent steps can be taken, going back in time, before
a least-squares line through them is more likely than not to be decreasing? When that count passes
a patience, the loss has stopped falling and the learning rate is halved. The robust variant
ignores the largest 10 % of values so that a few spikes do not hide a plateau.
See https://blog.dlib.net/2018/02/automatic-learning-rate-scheduling-that.html.
"""

from __future__ import annotations

import math
import time

import numpy as np


def count_steps_without_decrease(values: list[float] | np.ndarray, prob: float = 0.51) -> int:
    """Largest n such that the last n values show P(slope < 0) below ``prob``."""
    y = np.asarray(values, dtype=np.float64)[::-1]  # newest first, as dlib walks back in time
    n = np.arange(1, len(y) + 1, dtype=np.float64)
    x = n - 1
    sx, sy = np.cumsum(x), np.cumsum(y)
    sxx, sxy, syy = np.cumsum(x * x), np.cumsum(x * y), np.cumsum(y * y)
    count = 0
    for i in range(2, len(y)):  # windows of at least 3 points
        k = n[i]
        var_x = sxx[i] - sx[i] ** 2 / k
        slope = (sxy[i] - sx[i] * sy[i] / k) / var_x
        resid = max(syy[i] - sy[i] ** 2 / k - slope * (sxy[i] - sx[i] * sy[i] / k), 0.0)
        stderr = math.sqrt(resid / (k - 2) / var_x) if resid > 0 else 1e-12
        # walking back in time, a loss that falls over time rises: P(falling) = P(slope > 0)
        p_decreasing = 0.5 * (1 + math.erf(slope / stderr / math.sqrt(2)))
        if p_decreasing < prob:
            count = i + 1
    return count


def count_steps_without_decrease_robust(
    values: list[float] | np.ndarray, prob: float = 0.51
) -> int:
    """As above, with values above the 90th percentile clipped away first."""
    y = np.asarray(values, dtype=np.float64)
    if len(y) < 3:
        return 0
    return count_steps_without_decrease(y[y <= np.quantile(y, 0.9)], prob)


#: steps without a fall before a drop, for every trainer. At 300 a from-scratch detector run
#: halved its rate 7 times in 3000 steps while its loss still fell, and at 400 a recognizer round
#: 3 times in its first 1500; every fine-tuning round of the embedded models used 1500.
PATIENCE = 1500


class PlateauScheduler:
    """Halves every parameter group's learning rate once the loss stops falling."""

    def __init__(
        self, optimizer, patience: int = PATIENCE, factor: float = 0.5, min_lr: float = 1e-6
    ):
        self.optimizer, self.patience, self.factor, self.min_lr = (
            optimizer,
            patience,
            factor,
            min_lr,
        )
        self.history: list[float] = []
        self.drops = 0

    def step(self, loss: float) -> bool:
        """Record one step's loss; returns True when the learning rate was just dropped."""
        self.history.append(loss)
        if len(self.history) < self.patience or len(self.history) % 25:
            return False
        if (
            count_steps_without_decrease(self.history) < self.patience
            or count_steps_without_decrease_robust(self.history) < self.patience
        ):
            return False
        for group in self.optimizer.param_groups:
            group["lr"] = max(group["lr"] * self.factor, self.min_lr)
        self.history.clear()
        self.drops += 1
        return True


class WallClockCosine:
    """Cosine decay of every group's rate over a run's wall-clock budget, after a linear warm-up.

    For a short run of known length on a borrowed GPU machine: the plateau test needs about as
    many steps to see a plateau as such a run takes in all, so it would never drop the rate.
    Same ``step``/``drops`` interface as :class:`PlateauScheduler`.
    """

    drops = 0

    def __init__(
        self, optimizer, started_at: float, seconds: float, warmup: int = 0, floor: float = 0.02
    ):
        self.optimizer, self.started_at, self.seconds = optimizer, started_at, seconds
        self.warmup, self.floor, self.steps = warmup, floor, 0
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def step(self, loss: float | None = None) -> bool:
        self.steps += 1
        done = min(1.0, (time.time() - self.started_at) / self.seconds)
        factor = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * done))
        if self.steps < self.warmup:
            factor *= self.steps / self.warmup
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        return False
