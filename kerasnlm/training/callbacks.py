"""Callbacks that add task scores Keras does not compute to the logs of `fit`, so that
`ModelCheckpoint` and `EarlyStopping` can monitor them."""

import keras


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
