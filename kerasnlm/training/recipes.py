"""Training recipes: the optimizer and learning-rate schedule `compile()` picks for a task.

A backbone whose weights came from a checkpoint needs a gentler recipe than one trained from
scratch: AdamW at 5e-4 with no warm-up, right for random weights, takes the first steps of a
pretrained BERT far from where pretraining left it, and on long texts the classifier ends at
chance. So `Task.compile()` reads `backbone.pretrained` and takes one row of `RECIPES`:

| recipe         | peak rate | warm-up          | then             | weight decay            |
| -------------- | --------- | ---------------- | ---------------- | ----------------------- |
| `from_scratch` | 5e-4      | none             | constant         | 0.01, not biases / norms |
| `fine_tuning`  | 1e-4      | first 10% steps  | linear decay to 0 | 0.01, not biases / norms |

The fine-tuning row is BERT's recipe (Devlin et al. 2019; Hugging Face's Trainer default:
linear warm-up and decay) at the rate that fine-tuned all-MiniLM-L6-v2 best here. The
schedule needs the run's length: `compile(total_steps=...)` gives it, else `fit` plans it from
its epochs and steps per epoch.
"""

import dataclasses
import math

import keras

from kerasnlm.training.schedules import WarmupDecay

# Variables that AdamW leaves undecayed: biases and LayerNorm scales and offsets.
NO_DECAY = ["bias", "gamma", "beta"]
# Warm-up of a fine-tuning run whose length `fit` cannot know (a generator without
# `steps_per_epoch`): the rate then holds its peak after it.
UNKNOWN_LENGTH_WARMUP_STEPS = 100


@dataclasses.dataclass(frozen=True)
class Recipe:
    """AdamW with a peak learning rate, a linear warm-up over a fraction of the run, and a
    decay after it (`"constant"`, `"linear"` or `"cosine"` to 0)."""

    name: str
    learning_rate: float
    warmup_ratio: float = 0.0
    decay: str = "constant"
    weight_decay: float = 0.01

    @property
    def needs_length(self):
        """True when the schedule depends on how many steps the run has."""
        return self.warmup_ratio > 0 or self.decay != "constant"

    def schedule(self, total_steps=None, start_step=0):
        """The learning rate for a run of `total_steps` (None: unknown) from `start_step`: a
        float for a constant rate, else a `WarmupDecay`."""
        if not self.needs_length:
            return self.learning_rate
        if total_steps is None:
            return WarmupDecay(
                self.learning_rate, None, UNKNOWN_LENGTH_WARMUP_STEPS, "constant", start_step
            )
        warmup = min(math.ceil(self.warmup_ratio * total_steps), total_steps - 1)
        return WarmupDecay(self.learning_rate, total_steps, warmup, self.decay, start_step)

    def optimizer(self, learning_rate):
        """AdamW at `learning_rate` (a float or schedule) with this recipe's weight decay,
        which biases and LayerNorm parameters are exempt from."""
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=self.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
        return optimizer

    def replace(self, **changes):
        """This recipe with the fields given (None values are ignored) replaced."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


RECIPES = {
    "from_scratch": Recipe("from_scratch", learning_rate=5e-4),
    "fine_tuning": Recipe("fine_tuning", learning_rate=1e-4, warmup_ratio=0.1, decay="linear"),
}


def recipe_for(backbone):
    """`RECIPES["fine_tuning"]` for a backbone with pretrained weights, else the from-scratch
    recipe."""
    return RECIPES["fine_tuning" if getattr(backbone, "pretrained", False) else "from_scratch"]


def describe(recipe, learning_rate):
    """One line saying which recipe and what schedule a run uses."""
    why = "pretrained backbone" if recipe.name == "fine_tuning" else "new backbone"
    text = f"kerasnlm: {recipe.name.replace('_', '-')} recipe ({why}): AdamW, "
    if isinstance(learning_rate, WarmupDecay):
        text += f"peak learning rate {learning_rate.peak_learning_rate:g}, "
        if learning_rate.total_steps is None:
            text += (
                f"warm-up over {learning_rate.warmup_steps} steps, then constant (the run's "
                "length is unknown: pass `steps_per_epoch` or `compile(total_steps=...)` to "
                "decay)"
            )
        else:
            text += (
                f"warm-up over {learning_rate.warmup_steps} of {learning_rate.total_steps} "
                f"steps, then {learning_rate.decay} decay to 0"
            )
    else:
        text += f"constant learning rate {learning_rate:g}"
    return text + f", weight decay {recipe.weight_decay:g} (not on biases and LayerNorm)."


def current_schedule(optimizer):
    """The `WarmupDecay` an optimizer runs on (inside a `LossScaleOptimizer` too), else None."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    rate = optimizer.get_config()["learning_rate"]
    if isinstance(rate, dict):
        rate = keras.saving.deserialize_keras_object(rate)
    return rate if isinstance(rate, WarmupDecay) else None


def steps_per_epoch(x, batch_size=None, steps=None, validation_split=0.0):
    """How many steps an epoch of `fit(x, ...)` takes, as Keras counts them; None when the
    data cannot say (a generator, a dataset of unknown or infinite length)."""
    import tensorflow as tf

    if steps is not None:
        return steps
    if isinstance(x, tf.data.Dataset):
        cardinality = int(x.cardinality())
        return cardinality if cardinality > 0 else None
    if isinstance(x, keras.utils.PyDataset):
        return x.num_batches
    leaves = tf.nest.flatten(x) if isinstance(x, (dict, list, tuple)) else [x]
    if leaves and all(hasattr(leaf, "shape") and len(leaf.shape) for leaf in leaves):
        rows = int(leaves[0].shape[0])
        if validation_split:
            rows = int(math.floor(rows * (1.0 - validation_split)))
        return max(math.ceil(rows / (batch_size or 32)), 1)
    return None
