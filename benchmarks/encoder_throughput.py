"""Training throughput of kerasnlm's TransformerBackbone against keras-hub's BertBackbone.

Both are trained with the same masked-LM-style head (gather the masked positions, dense +
GELU + LayerNorm, logits tied to the token embedding) on the same batches, with Keras' default
compilation (on a CPU-only machine Keras runs plain TensorFlow graphs, not XLA), in float32
and in mixed_bfloat16. Prints tokens/s for each and the ratio.

    python benchmarks/encoder_throughput.py [--steps 10] [--repeats 2]

Configuration (the benchmark backbone): 4 layers, hidden 256, 4 heads, intermediate 1024,
sequence 128, batch 32, vocabulary 8000, 20 predictions per sequence.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from keras import ops  # noqa: E402

import kerasnlm as knlm  # noqa: E402

VOCABULARY, LENGTH, BATCH, PREDICTIONS = 8000, 128, 32, 20
SIZE = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)




def masked_lm_model(token_ids, padding_mask, sequence_output, embeddings):
    """Wraps any encoder's output in the same tied masked-LM head."""
    mask_positions = keras.Input(shape=(PREDICTIONS,), dtype="int32", name="mask_positions")
    x = ops.take_along_axis(sequence_output, mask_positions[:, :, None], axis=1)
    x = keras.layers.Dense(SIZE["hidden_dim"], activation="gelu")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    logits = TiedLogits(embeddings)(x)
    return keras.Model(
        {"token_ids": token_ids, "padding_mask": padding_mask, "mask_positions": mask_positions},
        logits,
    )


class TiedLogits(keras.layers.Layer):
    def __init__(self, embeddings, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = embeddings

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(VOCABULARY,), initializer="zeros", name="bias")

    def call(self, x):
        logits = ops.matmul(x, ops.transpose(ops.cast(self.embeddings, x.dtype)))
        return ops.cast(logits, "float32") + self.bias


def build_kerasnlm():
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=VOCABULARY, sequence_length=LENGTH, **SIZE
    )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    outputs = backbone({"token_ids": token_ids, "padding_mask": padding_mask})
    return masked_lm_model(
        token_ids, padding_mask, outputs["sequence_output"], backbone.token_embedding.embeddings
    )


def build_keras_hub():
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY, max_sequence_length=LENGTH, **SIZE
    )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    outputs = backbone(
        {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "segment_ids": ops.zeros_like(token_ids),
        }
    )
    return masked_lm_model(
        token_ids, padding_mask, outputs["sequence_output"], backbone.token_embedding.embeddings
    )


def make_batches(count, seed=0):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        token_ids = rng.integers(5, VOCABULARY, size=(BATCH, LENGTH), dtype="int32")
        positions = np.sort(
            np.stack([rng.choice(LENGTH, PREDICTIONS, replace=False) for _ in range(BATCH)]), axis=1
        ).astype("int32")
        labels = np.take_along_axis(token_ids, positions, axis=1)
        inputs = {
            "token_ids": token_ids,
            "padding_mask": np.ones_like(token_ids),
            "mask_positions": positions,
        }
        batches.append((inputs, labels))
    return batches


def tokens_per_second(build, policy, batches):
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.train_on_batch(*batches[0])  # compile
    model.train_on_batch(*batches[1])
    start = time.perf_counter()
    for inputs, labels in batches[2:]:
        loss = model.train_on_batch(inputs, labels)
    elapsed = time.perf_counter() - start
    keras.config.set_dtype_policy("float32")
    assert np.isfinite(loss)
    return (len(batches) - 2) * BATCH * LENGTH / elapsed, float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="alternating measurements each")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    args = parser.parse_args()

    print(f"CPU: {cpu_description()}")
    print(
        f"tensorflow {tf.__version__}, keras {keras.__version__}, "
        f"keras-hub {keras_hub.__version__}"
    )
    print(f"config: {SIZE}, sequence {LENGTH}, batch {BATCH}, vocabulary {VOCABULARY}")
    batches = make_batches(args.steps + 2)
    for policy in args.policies.split(","):
        results = {"kerasnlm": [], "keras-hub": []}
        for _ in range(args.repeats):  # alternate, so drift in machine load hits both
            results["kerasnlm"].append(tokens_per_second(build_kerasnlm, policy, batches)[0])
            results["keras-hub"].append(tokens_per_second(build_keras_hub, policy, batches)[0])
        ours, theirs = max(results["kerasnlm"]), max(results["keras-hub"])
        print(
            f"{policy:>15}: kerasnlm {ours:8.0f} tokens/s | keras-hub BertBackbone "
            f"{theirs:8.0f} tokens/s | ratio {ours / theirs:.2f}x   "
            f"(all runs: {[round(r) for r in results['kerasnlm']]} vs "
            f"{[round(r) for r in results['keras-hub']]})"
        )


if __name__ == "__main__":
    main()
