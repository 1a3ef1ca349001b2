"""Training throughput of the benchmark backbone in float32 and mixed_bfloat16, next to the
machine's matrix-product ceiling measured in the same run.

    python benchmarks/precision_throughput.py [--steps 10] [--repeats 3]

The model is kerasnlm's MaskedLanguageModel on the benchmark backbone (4 layers, hidden 256,
4 heads, intermediate 1024, sequence 128, batch 32, vocabulary 8000, 20 predictions per
sequence), trained with `fit` on fixed batches. The ceiling is a square float32 / bfloat16
`tf.matmul` (n = 2048). The step's FLOPs are counted from its matrix products (3x the forward
pass), so "fraction of ceiling" says how much of the machine a training step uses.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402

import kerasnlm as knlm  # noqa: E402

VOCABULARY, LENGTH, BATCH, PREDICTIONS = 8000, 128, 32, 20
LAYERS, HIDDEN, HEADS, INTERMEDIATE = 4, 256, 4, 1024


def matmul_ceiling(dtype, n=2048, repeats=10):
    """GFLOP/s of an n x n x n matrix product in `dtype` (the best of `repeats`)."""
    a = tf.random.normal((n, n), dtype="float32")
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")))
    product()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product().numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def step_flops(predictions=PREDICTIONS, vocabulary=VOCABULARY):
    """Matrix-product FLOPs of one BERT training step at the benchmark size (forward x 3: the
    backward pass costs two), with a masked-LM head over `predictions` positions per
    sequence (0: no vocabulary head)."""
    tokens = BATCH * LENGTH
    per_layer = 2 * tokens * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE)  # QKV, out, FFN
    per_layer += 2 * 2 * BATCH * LENGTH * LENGTH * HIDDEN  # scores and weighted values
    head = 2 * BATCH * predictions * (HIDDEN * HIDDEN + HIDDEN * vocabulary)
    return 3 * (LAYERS * per_layer + head)


def batch():
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, VOCABULARY, (BATCH, LENGTH)).astype("int32"),
        "padding_mask": np.ones((BATCH, LENGTH), "int32"),
        "mask_positions": np.sort(rng.integers(1, LENGTH, (BATCH, PREDICTIONS)), 1).astype("int32"),
    }
    y = rng.integers(5, VOCABULARY, (BATCH, PREDICTIONS)).astype("int32")
    return x, y, np.ones((BATCH, PREDICTIONS), "float32")


def training_seconds_per_step(precision, steps, repeats):
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=VOCABULARY, sequence_length=LENGTH, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE, dropout=0.1, dtype=precision,
    )
    model = knlm.models.MaskedLanguageModel(backbone)
    model.compile()
    data = tf.data.Dataset.from_tensors(batch()).repeat()
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"'auto' precision here: {knlm.distribute.resolve_precision('auto')}")
    ceilings = {"float32": matmul_ceiling("float32"), "mixed_bfloat16": matmul_ceiling("bfloat16")}
    flops = step_flops()
    print(f"training step: {flops / 1e9:.1f} GFLOP of matrix products, {BATCH * LENGTH} tokens")
    print(f"{'precision':<16}{'matmul GFLOP/s':>15}{'step ms':>10}{'tokens/s':>10}"
          f"{'step GFLOP/s':>14}{'of ceiling':>12}")
    rates = {}
    for precision in ("float32", "mixed_bfloat16"):
        seconds = training_seconds_per_step(precision, args.steps, args.repeats)
        rates[precision] = BATCH * LENGTH / seconds
        achieved = flops / seconds / 1e9
        print(f"{precision:<16}{ceilings[precision]:>15.0f}{seconds * 1e3:>10.0f}"
              f"{rates[precision]:>10.0f}{achieved:>14.0f}{achieved / ceilings[precision]:>12.0%}")
    print(f"mixed_bfloat16 / float32: tokens/s x{rates['mixed_bfloat16'] / rates['float32']:.2f}, "
          f"matmul ceiling x{ceilings['mixed_bfloat16'] / ceilings['float32']:.2f}")


if __name__ == "__main__":
    main()
