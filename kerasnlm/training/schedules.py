import keras
from keras import ops

DECAYS = ("linear", "cosine")


@keras.saving.register_keras_serializable(package="kerasnlm")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak_learning_rate`, then linear or cosine decay to 0.

    The schedule BERT and most Transformer fine-tuning recipes use: warming up keeps Adam's
    early, badly estimated second moments from taking huge steps.

    Args:
        peak_learning_rate: float, the rate reached after `warmup_steps`.
        total_steps: int, the step at which the rate reaches 0.
        warmup_steps: int, `0 <= warmup_steps < total_steps`.
        decay: `"linear"` or `"cosine"`.

    Example:
    ```python
    import kerasnlm as knlm

    schedule = knlm.training.WarmupDecay(1e-3, total_steps=100, warmup_steps=10)
    float(schedule(5)), float(schedule(10)), float(schedule(100))  # (0.0005, 0.001, 0.0)
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, decay="linear"):
        if peak_learning_rate <= 0:
            raise ValueError(
                f"`peak_learning_rate` must be positive; received {peak_learning_rate!r}."
            )
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be a positive integer; received {total_steps!r}.")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"`warmup_steps` must be an integer in [0, total_steps={total_steps}); "
                f"received {warmup_steps!r}."
            )
        if decay not in DECAYS:
            raise ValueError(f"`decay` must be one of {DECAYS}; received {decay!r}.")
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.decay = decay

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = step / max(self.warmup_steps, 1)
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
        }
