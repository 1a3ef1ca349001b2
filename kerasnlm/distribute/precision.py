"""Choosing the numeric precision of training: float32, or mixed bfloat16 / float16.

Under a mixed policy the weights stay float32 and the matrix products run in 16 bits; kerasnlm's
layers keep LayerNorm, the attention softmax, the logits and the losses in float32, and every
model's outputs are float32.
"""

import logging

import keras
import tensorflow as tf

logger = logging.getLogger("kerasnlm")

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(precision="auto", strategy=None):
    """The dtype policy name `precision` stands for on this machine.

    `"auto"`: `mixed_bfloat16` on TPUs, on GPUs of compute capability 8.0 or more (A100, H100,
    RTX 30xx and later) and on CPUs with bfloat16 matrix units (AMX or AVX512-BF16);
    `mixed_float16` on GPUs of capability 7.x (V100, T4), which have fast float16 but not
    bfloat16; `float32` elsewhere, e.g. on AVX2-only CPUs, where bfloat16 is emulated and no
    faster.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}; received {precision!r}.")
    if precision != "auto":
        return precision
    policy = _automatic(strategy)
    logger.info("kerasnlm.distribute: precision 'auto' is %s here", policy)
    return policy


def _automatic(strategy):
    strategy = strategy or tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = min(
            tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            for gpu in gpus
        )
        if capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16" if capability >= (7, 0) else "float32"
    flags = _cpu_flags()
    if {"amx_bf16", "avx512_bf16"} & flags:
        return "mixed_bfloat16"
    return "float32"


def set_precision(precision="auto", strategy=None):
    """Sets Keras' global dtype policy for the layers and models built after it; returns the
    policy name.

    A model keeps the policy it was built with (and saves it); `mixed_float16` models get loss
    scaling from `compile()` (Keras wraps the optimizer in a `LossScaleOptimizer`).

    Example:
    ```python
    import kerasnlm as knlm

    policy = knlm.distribute.set_precision("auto")  # e.g. "float32" on an AVX2-only CPU
    knlm.distribute.set_precision("float32")
    ```
    """
    policy = resolve_precision(precision, strategy)
    keras.config.set_dtype_policy(policy)
    return policy
