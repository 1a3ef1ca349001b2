"""Callbacks for `fit`: task scores Keras does not compute (so that `ModelCheckpoint` and
`EarlyStopping` can monitor them), and the stop at the first non-finite loss."""

import math

import keras


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite: the weights are no longer usable."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the first step whose training loss is NaN or infinite, by raising
    `NonFiniteLossError` with the step and the likely causes.

    Keras trains on through a NaN loss: every later step, checkpoint and saved model is NaN
    too, and the run ends "successfully". Raising ends `fit` before any later callback saves
    the ruined weights, so the last checkpoint written (`pretrain`'s step checkpoints,
    `finetune`'s backup and `best.keras`) is the last good one. Every kerasnlm task model adds
    this callback to its `fit`, unless the call already has one.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16)
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(learning_rate=1e9)  # far too high
    x = {"token_ids": np.full((8, 8), 5), "padding_mask": np.ones((8, 8), bool)}
    try:
        classifier.fit(x, np.arange(8) % 2, epochs=20, verbose=0)
    except knlm.training.NonFiniteLossError as error:
        print(error)  # Training stopped at step ...: the loss is nan ...
    ```
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(keras.ops.convert_to_numpy(loss))
        if math.isfinite(loss):
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        raise NonFiniteLossError(
            f"Training stopped at step {step}: the loss is {loss}, so the weights are no "
            f"longer usable (nothing after the last checkpoint was saved). Likely causes: a "
            f"learning rate too high (it was {self._learning_rate()} at this step), float16 "
            "without loss scaling, or inputs the model cannot take: sample weights that are "
            "not finite, or token ids outside the vocabulary in an XLA-compiled step (which "
            "cannot raise, so the embedding layers turn their output NaN instead)."
        )

    def _learning_rate(self):
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if callable(rate):
            rate = rate(optimizer.iterations)
        return f"{float(keras.ops.convert_to_numpy(rate)):g}"


class EntityF1(keras.callbacks.Callback):
    """Adds seqeval's entity-level `val_entity_f1` (and precision, recall) to the logs at the
    end of every epoch, so `ModelCheckpoint`/`EarlyStopping` can monitor it.

    The model is a `kerasnlm.models.TokenClassifier` (its `evaluate_entities` tags the
    sentences); place this callback before any callback that reads the scores.

    Args:
        token_lists: list of lists of words of the evaluation sentences.
        tag_lists: their gold tag names.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    words, word_tags = knlm.data.read_conll(knlm.data.samples.wnut17("dev"))
    tags = sorted({t for sentence in word_tags for t in sentence})
    tagger = knlm.models.TokenClassifier(
        knlm.models.TransformerBackbone(
            vocabulary_size=tokenizer.vocabulary_size, sequence_length=48, num_layers=1,
            num_heads=2, hidden_dim=32, intermediate_dim=64),
        num_classes=len(tags), tokenizer=tokenizer, tags=tags)
    tagger.compile()
    history = tagger.fit(
        knlm.data.token_classification_dataset(
            words[:64], word_tags[:64], tokenizer, tags, sequence_length=48, seed=0),
        callbacks=[knlm.training.EntityF1(words[:32], word_tags[:32])], verbose=0)
    history.history["val_entity_f1"]  # one F1 per epoch
    ```
    """

    def __init__(self, token_lists, tag_lists):
        super().__init__()
        self.token_lists = token_lists
        self.tag_lists = tag_lists

    def on_epoch_end(self, epoch, logs=None):
        scores = self.model.evaluate_entities(self.token_lists, self.tag_lists)
        if logs is not None:
            for key in ("precision", "recall", "f1"):
                logs[f"val_entity_{key}"] = scores[key]
