import keras
from keras import ops

from kerasnlm.utils.arguments import integer_at_least
from kerasnlm.utils.arguments import positive_integer

DECAYS = ("linear", "cosine", "constant")


@keras.saving.register_keras_serializable(package="kerasnlm")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak_learning_rate`, then linear or cosine decay to 0.

    The schedule BERT and most Transformer fine-tuning recipes use: warming up keeps Adam's
    early, badly estimated second moments from taking huge steps.

    Args:
        peak_learning_rate: float, the rate reached after `warmup_steps`.
        total_steps: int, the number of steps the schedule spans: the rate reaches 0 at
            `start_step + total_steps`. None only with `decay="constant"` (a run of unknown
            length).
        warmup_steps: int, `0 <= warmup_steps < total_steps`.
        decay: `"linear"` or `"cosine"` to 0, or `"constant"` (hold the peak).
        start_step: int, the optimizer step at which the schedule starts (a second `fit`
            planned after a first one has used its schedule up). Before it the rate is 0.

    Example:
    ```python
    import kerasnlm as knlm

    schedule = knlm.training.WarmupDecay(1e-3, total_steps=100, warmup_steps=10)
    float(schedule(5)), float(schedule(10)), float(schedule(100))  # (0.0005, 0.001, 0.0)
    ```
    """

    def __init__(
        self, peak_learning_rate, total_steps, warmup_steps=0, decay="linear", start_step=0
    ):
        if isinstance(peak_learning_rate, bool) or not peak_learning_rate > 0:
            raise ValueError(
                f"`peak_learning_rate` must be positive; received {peak_learning_rate!r}."
            )
        if decay not in DECAYS:
            raise ValueError(f"`decay` must be one of {DECAYS}; received {decay!r}.")
        if total_steps is None and decay != "constant":
            raise ValueError(f"`total_steps` is needed to decay ({decay!r}) to 0.")
        if total_steps is not None:
            positive_integer("total_steps", total_steps)
        limit = total_steps if total_steps is not None else float("inf")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < limit:
            raise ValueError(
                f"`warmup_steps` must be an integer in [0, total_steps={total_steps}); "
                f"received {warmup_steps!r}."
            )
        integer_at_least("start_step", start_step, 0)
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.decay = decay
        self.start_step = start_step

    @property
    def end_step(self):
        """The optimizer step at which the rate has decayed to 0 (None: it never does)."""
        return None if self.total_steps is None else self.start_step + self.total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") - self.start_step
        warmup = ops.maximum(step, 0.0) / max(self.warmup_steps, 1)
        if self.decay == "constant":
            decayed = ops.ones_like(step)
        else:
            progress = ops.clip(
                (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0
            )
            if self.decay == "linear":
                decayed = 1.0 - progress
            else:
                decayed = 0.5 * (1.0 + ops.cos(3.141592653589793 * progress))
        factor = ops.where(step < self.warmup_steps, warmup, decayed)
        return self.peak_learning_rate * factor

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "start_step": self.start_step,
        }
