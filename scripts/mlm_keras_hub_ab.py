"""Is the masked-LM plateau ours or the task's? kerasnlm's `MaskedLanguageModel` and keras-hub's
`BertMaskedLM` trained on the same batches.

Both models are the benchmark size (4 layers, hidden 256, 4 heads, intermediate 1024, sequence
128), dropout 0, batch 32 of packed `english_text/train.txt` pieces with BERT's 15% masks, AdamW
at `--learning-rate` warmed up over 100 steps and decayed linearly to 0. Masked accuracy on the
same 20 fixed batches of `valid.txt` every 100 steps. keras-hub's BERT is post-norm with an
embedding LayerNorm; ours is pre-norm with an embedding LayerNorm, with or without ALiBi.

    python scripts/mlm_keras_hub_ab.py --models kerasnlm keras_hub kerasnlm_alibi
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import keras_hub  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasnlm as knlm  # noqa: E402
from benchmarks.common import cpu_description  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "english_text")
SIZE = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.0)


def keras_hub_batches(x, y, w):
    """Our masked-LM batch as `BertMaskedLM` reads it (one segment)."""
    x = {**x, "segment_ids": tf.zeros_like(x["token_ids"])}
    return x, y, w


def build(name, vocabulary_size, learning_rate):
    """A compiled model and the map its batches need."""
    keras.utils.set_random_seed(0)
    if name == "keras_hub":
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary_size, max_sequence_length=128, **SIZE)
        model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["sparse_categorical_accuracy"],
        )
        return model, keras_hub_batches
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=vocabulary_size, sequence_length=128, normalize_first=True,
        normalize_embeddings=True, position_bias="alibi" if name.endswith("alibi") else None,
        **SIZE,
    )
    model = knlm.models.MaskedLanguageModel(backbone)
    model.compile(learning_rate=learning_rate)
    return model, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["kerasnlm", "keras_hub", "kerasnlm_alibi"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    args = parser.parse_args()
    print("CPU:", cpu_description())
    corpus = os.path.join(DATA, "train.txt")
    tokenizer = knlm.tokenizers.WordPieceTokenizer.train(
        corpus, vocabulary_size=args.vocabulary_size, seed=0)
    train = knlm.data.masked_lm_dataset(
        corpus, tokenizer, sequence_length=128, batch_size=32, pack_documents=True, seed=0,
    ).repeat()
    validation = knlm.data.masked_lm_dataset(
        os.path.join(DATA, "valid.txt"), tokenizer, sequence_length=128, batch_size=32,
        pack_documents=True, shuffle=False, seed=0,
    ).take(20).cache()
    every = 100
    for name in args.models:
        schedule = knlm.training.WarmupDecay(args.learning_rate, args.steps, 100, "linear")
        model, adapt = build(name, tokenizer.vocabulary_size, schedule)
        start = time.time()

        def report(epoch, logs, name=name, start=start):
            accuracy = next(v for k, v in logs.items() if k.startswith("val_") and "acc" in k)
            print(f"{name:15s} step {(epoch + 1) * every:4d}: masked accuracy {accuracy:.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)

        model.fit(
            train.map(adapt) if adapt else train, steps_per_epoch=every,
            epochs=args.steps // every,
            validation_data=validation.map(adapt) if adapt else validation, verbose=0,
            callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=report)],
        )


if __name__ == "__main__":
    main()
