"""`kerasnlm quickstart`: the whole path from raw text to a trained model, on bundled data.

Trains a WordPiece vocabulary on the bundled SST-2 training sample, assembles a
`TransformerBackbone` and a classification head with the Functional API, fine-tunes everything
(embeddings included) with `model.fit`, and reports accuracy on the SST-2 dev set next to the
majority-class baseline. The model and vocabulary are saved in `output_dir`.
"""

import os

import keras
import numpy as np

from kerasnlm import data
from kerasnlm.models import TransformerBackbone
from kerasnlm.tokenizers import WordPieceTokenizer

SEQUENCE_LENGTH = 64


def quickstart(epochs=3, output_dir="runs/quickstart", seed=0):
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer; received {epochs!r}.")
    keras.utils.set_random_seed(seed)
    texts, labels = data.read_tsv(data.samples.sst2("train"))
    dev_texts, dev_labels = data.read_tsv(data.samples.sst2("dev"))
    print(f"SST-2 sample: {len(texts)} training sentences, {len(dev_texts)} dev sentences")

    tokenizer = WordPieceTokenizer.train(texts, vocabulary_size=4000, seed=seed)
    print(f"WordPiece vocabulary: {tokenizer.vocabulary_size} tokens")
    train = data.classification_dataset(
        texts, labels, tokenizer, SEQUENCE_LENGTH, batch_size=32, num_classes=2, seed=seed
    )
    dev = data.classification_dataset(
        dev_texts, dev_labels, tokenizer, SEQUENCE_LENGTH, batch_size=64, num_classes=2,
        shuffle=False,
    )

    backbone = TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size,
        sequence_length=SEQUENCE_LENGTH,
        num_layers=2,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=512,
        dropout=0.1,
    )
    pooled = backbone(backbone.input)["pooled_output"]
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Dropout(0.1)(pooled))
    model = keras.Model(backbone.input, logits, name="sentiment_classifier")
    steps = epochs * int(train.cardinality())
    model.compile(
        optimizer=keras.optimizers.AdamW(
            keras.optimizers.schedules.CosineDecay(
                0.0, steps, warmup_target=5e-4, warmup_steps=max(1, steps // 10)
            ),
            weight_decay=0.01,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train, validation_data=dev, epochs=epochs)

    _, accuracy = model.evaluate(dev, verbose=0)
    majority = max(np.mean(dev_labels), 1 - np.mean(dev_labels))
    print(f"SST-2 dev accuracy: {accuracy:.3f} (majority-class baseline {majority:.3f})")

    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, "classifier.keras"))
    tokenizer.save_vocabulary(os.path.join(output_dir, "vocab.txt"))
    print(f"Saved the model and vocabulary in {output_dir}/")
    return accuracy
