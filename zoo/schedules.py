"""Learning-rate schedules that Keras lacks, as ``keras.ops`` (every backend)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class Triangular(keras.optimizers.schedules.LearningRateSchedule):
    """airbench94's triangle: linear from ``start_factor x peak`` at step 0 to ``peak`` at ``peak_step``, then
    linear to ``end_factor x peak`` at ``total_steps`` (and there after)."""

    def __init__(self, peak: float, total_steps: int, peak_step: int, start_factor: float = 0.2,
                 end_factor: float = 0.07):
        if not peak > 0 or total_steps < 1 or not 0 <= peak_step <= total_steps:
            raise ValueError(f"a triangle needs peak > 0 and 0 <= peak_step <= total_steps >= 1, got peak={peak}, "
                             f"peak_step={peak_step}, total_steps={total_steps}")
        self.peak, self.total_steps, self.peak_step = float(peak), int(total_steps), int(peak_step)
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start, end = self.peak * self.start_factor, self.peak * self.end_factor
        up = start + (self.peak - start) * step / max(self.peak_step, 1)
        down = self.peak + (end - self.peak) * (step - self.peak_step) / max(self.total_steps - self.peak_step, 1)
        return ops.where(step < self.peak_step, up, ops.maximum(down, min(end, self.peak)))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "peak_step": self.peak_step,
                "start_factor": self.start_factor, "end_factor": self.end_factor}
