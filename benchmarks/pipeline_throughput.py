"""Input pipeline throughput against the training step it feeds.

Prints examples/s of every `kerasnlm.data` pipeline on the bundled samples (sequence 128,
batch 32, shuffled, files streamed), then, when `kerasnlm.models.TransformerBackbone` is
available, the training-step time of the benchmark backbone (4 layers, hidden 256, 4 heads,
intermediate 1024, sequence 128, batch 32) with a masked-LM head, measured twice: on batches
already in memory (compute only) and fed live by `masked_lm_dataset` (compute + pipeline),
both through `fit`, in wall-clock and in process CPU time (steadier on a shared machine). The
pipeline is not the bottleneck when the two agree and each pipeline produces examples many
times faster than the step consumes them.

    python benchmarks/pipeline_throughput.py [--batches 200] [--steps 20]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import cpu_description  # noqa: E402
from keras import ops  # noqa: E402

import kerasnlm as knlm  # noqa: E402

LENGTH, BATCH = 128, 32
SIZE = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)




def pipelines(tokenizer):
    data, samples = knlm.data, knlm.data.samples
    texts, labels = data.read_tsv(samples.sst2("train"))
    words, tags = data.read_conll(samples.wnut17("train"))
    tag_names = sorted({t for sentence in tags for t in sentence})
    english, spanish = data.read_parallel(samples.spa_eng())
    common = dict(sequence_length=LENGTH, batch_size=BATCH, seed=0)
    return {
        "masked_lm_dataset (file)": data.masked_lm_dataset(
            samples.english_text(), tokenizer, **common
        ),
        "masked_lm_dataset (whole words)": data.masked_lm_dataset(
            samples.english_text(), tokenizer, whole_word_masking=True, **common
        ),
        "causal_lm_dataset (file)": data.causal_lm_dataset(
            samples.english_text(), tokenizer, **common
        ),
        "classification_dataset": data.classification_dataset(texts, labels, tokenizer, **common),
        "classification_dataset (pairs)": data.classification_dataset(
            texts, labels, tokenizer, text_pairs=texts[::-1], **common
        ),
        "token_classification_dataset": data.token_classification_dataset(
            words, tags, tokenizer, tag_names, **common
        ),
        "seq2seq_dataset": data.seq2seq_dataset(english, spanish, tokenizer, **common),
    }


def examples_per_second(dataset, batches):
    iterator = iter(dataset.repeat())
    for _ in range(5):  # warm up: tracing, thread pools, first file reads
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def masked_lm_model(vocabulary_size, predictions):
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=vocabulary_size, sequence_length=LENGTH, **SIZE
    )
    inputs = {
        "token_ids": keras.Input((LENGTH,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input((LENGTH,), dtype="bool", name="padding_mask"),
        "mask_positions": keras.Input((predictions,), dtype="int32", name="mask_positions"),
    }
    sequence = backbone({k: inputs[k] for k in ("token_ids", "padding_mask")})["sequence_output"]
    x = ops.take_along_axis(sequence, inputs["mask_positions"][:, :, None], axis=1)
    logits = keras.layers.Dense(vocabulary_size)(x)
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    return model


def fit_seconds_per_step(model, dataset, steps):
    """Wall-clock and process CPU seconds per `fit` step (CPU time counts every thread, the
    pipeline's too, and is steadier than wall time on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset.repeat(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def step_times(tokenizer, steps, repeats=3):
    """Seconds per `fit` step of the backbone: on batches already in memory (compute only),
    and fed live by `masked_lm_dataset` (compute + pipeline); best of `repeats`, alternated."""
    dataset = knlm.data.masked_lm_dataset(
        knlm.data.samples.english_text(),
        tokenizer,
        sequence_length=LENGTH,
        batch_size=BATCH,
        seed=0,
    )
    in_memory = dataset.take(steps).cache()
    for _ in in_memory:  # fill the cache
        pass
    model = masked_lm_model(tokenizer.vocabulary_size, dataset.element_spec[1].shape[1])
    fit_seconds_per_step(model, in_memory, 3)  # compile, warm up
    fit_seconds_per_step(model, dataset, 3)
    times = {"in memory": [], "pipeline": []}
    for _ in range(repeats):
        times["in memory"].append(fit_seconds_per_step(model, in_memory, steps))
        times["pipeline"].append(fit_seconds_per_step(model, dataset, steps))
    return {
        name: (min(t[0] for t in runs), min(t[1] for t in runs)) for name, runs in times.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="timed batches per pipeline")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    args = parser.parse_args()

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    print(f"CPU: {cpu_description()}")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__} ({keras.backend.backend()})")
    print(f"sequence {LENGTH}, batch {BATCH}, vocabulary {tokenizer.vocabulary_size}")
    rates = {}
    for name, dataset in pipelines(tokenizer).items():
        rates[name] = examples_per_second(dataset, args.batches)
        print(f"{name:>32}: {rates[name]:9.0f} examples/s")

    if not hasattr(knlm.models, "TransformerBackbone"):
        print("kerasnlm.models.TransformerBackbone is not available: training step not measured.")
        return
    times = step_times(tokenizer, args.steps)
    (compute, compute_cpu), (fed, fed_cpu) = times["in memory"], times["pipeline"]
    trained = BATCH / compute
    print(f"backbone {SIZE}, masked-LM head, fit step (best of 3; wall / process CPU):")
    print(
        f"  on in-memory batches:          {compute * 1000:5.0f} ms / {compute_cpu * 1000:5.0f} ms "
        f"({trained:.0f} examples/s)"
    )
    print(f"  fed live by masked_lm_dataset: {fed * 1000:5.0f} ms / {fed_cpu * 1000:5.0f} ms")
    slowest = min(rates, key=rates.get)
    print(
        f"slowest pipeline, {slowest}, produces {rates[slowest] / trained:.0f}x the examples/s "
        f"the step consumes; with the pipeline / without: wall {fed / compute:.2f}, "
        f"CPU {fed_cpu / compute_cpu:.2f}"
    )


if __name__ == "__main__":
    main()
