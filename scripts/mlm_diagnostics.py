"""Why masked-LM pretraining sits on the unigram plateau: one short run per hypothesis.

Each variant pretrains the benchmark backbone (4 layers, hidden 256, 4 heads, sequence 128,
batch 32, pre-norm) on `english_text/train.txt` with packed documents, from the same seed, for
`--steps` steps, and reports masked-token accuracy and loss on the same fixed batches of
`valid.txt` every `--every` steps. Variants run one after another in this process, so their
figures are comparable; the CPU is printed first.

    python scripts/mlm_diagnostics.py --steps 600 --variants baseline embedding_norm
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasnlm as knlm  # noqa: E402
from benchmarks.common import cpu_description  # noqa: E402
from benchmarks.common import cpu_seconds  # noqa: E402
from kerasnlm.layers.token_and_position_embedding import sinusoidal_position_table  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "english_text")
BENCHMARK_SIZE = dict(sequence_length=128, num_layers=4, num_heads=4, hidden_dim=256,
                      intermediate_dim=1024, dropout=0.1, normalize_first=True)


def bert_kernels(model):
    """Re-draws every dense kernel from BERT's truncated normal (stddev 0.02)."""
    draw = keras.initializers.TruncatedNormal(stddev=0.02, seed=1)
    for weight in model.backbone.weights:
        if weight.path.endswith("kernel"):
            weight.assign(draw(weight.shape))


def sinusoidal_positions(model):
    """Starts the learned position embeddings from the sinusoidal table at the token
    embeddings' scale: trainable, but ordered from step 0 (a bidirectional model, unlike a
    causal one, knows word order only from them)."""
    embedding = model.backbone.embedding
    table = sinusoidal_position_table(embedding.sequence_length, embedding.embedding_dim)
    table = np.asarray(table)
    embedding.position_embeddings.assign(table * (0.02 / table.std()))


# Each hypothesis: changes to the backbone, to the data, to the optimizer, and to the built
# model. Join names with "+" to combine them, e.g. `embedding_norm+bert_init+mask_rate_0.4`.
VARIANTS = {
    "baseline": dict(),  # configs/pretrain_mlm.yaml: lr 1e-3, 250 warm-up steps
    "embedding_norm": dict(backbone=dict(normalize_embeddings=True)),
    "bert_init": dict(after_build=bert_kernels),
    "post_norm": dict(backbone=dict(normalize_first=False)),
    "position_init": dict(after_build=sinusoidal_positions),
    "lr_5e-4": dict(learning_rate=5e-4),
    "lr_2e-3": dict(learning_rate=2e-3),
    "no_weight_decay": dict(weight_decay=0.0),
    "no_dropout": dict(backbone=dict(dropout=0.0)),
    # More predictions per step for the same encoder work (Wettig et al., 2023).
    "mask_rate_0.3": dict(data=dict(mask_rate=0.3)),
    "mask_rate_0.4": dict(data=dict(mask_rate=0.4)),
    # ALiBi's fixed distance penalty on attention scores: attention starts local, so a masked
    # piece reads its neighbours from step 0 (Press et al., 2022).
    "alibi": dict(backbone=dict(position_bias="alibi")),
}


def variant(name):
    """The changes of a variant name, "+"-joined names merged."""
    merged = {}
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"Unknown variant {part!r}; choose from {sorted(VARIANTS)}.")
        for key, value in VARIANTS[part].items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged


def run(name, variant, tokenizer, corpus, validation, steps, every, warmup):
    """Trains one variant; its validation figures every `every` steps, wall and CPU seconds."""
    # Validation keeps BERT's 15% masks whatever the variant trains with.
    train = knlm.data.masked_lm_dataset(
        corpus, tokenizer, sequence_length=128, batch_size=32, pack_documents=True, seed=0,
        **variant.get("data", {}),
    ).repeat()
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size,
        **{**BENCHMARK_SIZE, **variant.get("backbone", {})},
    )
    model = knlm.models.MaskedLanguageModel(backbone)
    if "after_build" in variant:
        variant["after_build"](model)
    model.compile(
        learning_rate=knlm.training.WarmupDecay(
            variant.get("learning_rate", 1e-3), steps, warmup, "linear"),
        weight_decay=variant.get("weight_decay", 0.01),
    )
    start, cpu = time.time(), cpu_seconds()
    history = model.fit(
        train, steps_per_epoch=every, epochs=steps // every, validation_data=validation,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(
            f"  {name:40s} step {(epoch + 1) * every:5d}: masked accuracy "
            f"{logs['val_accuracy']:.3f}, loss {logs['val_loss']:.3f}", flush=True))],
    ).history
    rows = list(zip(history["val_accuracy"], history["val_loss"]))
    return rows, time.time() - start, cpu_seconds() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=250)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    print("CPU:", cpu_description())
    corpus = os.path.join(args.data, "train.txt")
    tokenizer = knlm.tokenizers.WordPieceTokenizer.train(
        corpus, vocabulary_size=args.vocabulary_size, seed=0)
    print(f"vocabulary: {tokenizer.vocabulary_size} tokens")
    validation = knlm.data.masked_lm_dataset(
        os.path.join(args.data, "valid.txt"), tokenizer, sequence_length=128, batch_size=32,
        pack_documents=True, shuffle=False, seed=0,
    ).take(50).cache()
    counts = np.bincount(
        np.concatenate([y.numpy()[w.numpy() > 0] for _, y, w in validation]),
        minlength=tokenizer.vocabulary_size)
    print(f"validation: {counts.sum()} masked pieces; always guessing the most frequent one "
          f"scores {counts.max() / counts.sum():.3f}")
    summary = []
    for name in args.variants:
        rows, wall, cpu = run(name, variant(name), tokenizer, corpus, validation, args.steps,
                              args.every, args.warmup)
        summary.append((name, *rows[-1], wall, cpu))
    print(f"\n| variant | masked accuracy at {args.steps} | loss | wall s | CPU s |")
    print("|---|---|---|---|---|")
    for name, accuracy, loss, wall, cpu in summary:
        print(f"| {name} | {accuracy:.3f} | {loss:.3f} | {wall:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
