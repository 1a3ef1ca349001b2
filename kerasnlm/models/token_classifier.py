import keras
import tensorflow as tf
from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities

from kerasnlm import data
from kerasnlm.layers.dropout import Dropout
from kerasnlm.models.task import Task
from kerasnlm.models.task import raw_texts
from kerasnlm.models.task import token_prediction_loss
from kerasnlm.utils.arguments import integer_at_least
from kerasnlm.utils.arguments import rate


@keras.saving.register_keras_serializable(package="kerasnlm")
class TokenClassifier(Task):
    """Tags every word of a text (named entities, parts of speech) on a shared backbone.

    The backbone, shared by reference, encodes `[CLS] pieces [SEP]`; each piece's vector goes
    through dropout and a dense layer to tag logits. Training data puts each word's tag on its
    first WordPiece (`kerasnlm.data.token_classification_dataset`, other pieces weighted 0), so
    a word's prediction is read at its first piece.

    Inputs: `{"token_ids", "padding_mask"}` `(batch, length)`. Output: float32 logits
    `(batch, length, num_classes)`. `compile()` defaults: cross-entropy averaged over the
    weighted (first-piece) positions, AdamW, `accuracy`.

    Given a `tokenizer` and the `tags` (names of the classes, IOB2 such as `"B-person"`),
    `predict` also takes raw strings and returns, per string, its entities as dicts `{"text",
    "type", "start", "end"}` (character offsets, `end` exclusive); `evaluate_entities` gives
    seqeval's entity-level precision, recall and F1 (and `kerasnlm.training.EntityF1` logs
    them every epoch).

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        num_classes: int >= 2, the number of tags.
        dropout: float in [0, 1), before the output layer.
        tokenizer: optional `kerasnlm.tokenizers.WordPieceTokenizer`.
        tags: optional list of `num_classes` tag names (index = class id).
        **kwargs: passed to `keras.Model`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    words, word_tags = knlm.data.read_conll(knlm.data.samples.wnut17("dev"))
    tags = sorted({t for sentence in word_tags for t in sentence})
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=64, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    tagger = knlm.models.TokenClassifier(
        backbone, num_classes=len(tags), tokenizer=tokenizer, tags=tags)
    tagger.compile()
    tagger.fit(knlm.data.token_classification_dataset(
        words, word_tags, tokenizer, tags, sequence_length=64, seed=0), verbose=0)
    tagger.predict(["I flew to New York with Alice"])  # [[{"text": ..., "type": ...}, ...]]
    ```
    """

    def __init__(self, backbone, num_classes, dropout=0.1, tokenizer=None, tags=None, **kwargs):
        integer_at_least("num_classes", num_classes, 2)
        rate("dropout", dropout)
        if tags is not None and len(tags) != num_classes:
            raise ValueError(f"`tags` names {len(tags)} tags but `num_classes` is {num_classes}.")
        # === Layers ===
        head_dropout = Dropout(dropout, name="head_dropout")
        output_dense = keras.layers.Dense(num_classes, dtype="float32", name="logits")

        # === Functional graph ===
        inputs = backbone.new_inputs()
        sequence = backbone.encode_inputs(inputs)
        logits = output_dense(head_dropout(sequence))
        super().__init__(inputs, logits, backbone=backbone, tokenizer=tokenizer, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.tags = None if tags is None else [str(tag) for tag in tags]

    def default_loss(self):
        return token_prediction_loss()

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def label_limit(self):
        return self.num_classes

    def predict_word_tags(self, token_lists, batch_size=32):
        """Tag names for each word of already split sentences (lists of words).

        Words cut off by the backbone's `sequence_length` are tagged `"O"`.
        """
        if self.tokenizer is None or self.tags is None:
            raise ValueError("Word-level prediction needs the classifier's `tokenizer` and `tags`.")
        length = self.backbone.sequence_length
        # Each batch padded to its longest sentence (rounded up to 8, as an export pads), not
        # to the backbone's `sequence_length`, which is 512 for a BERT checkpoint.
        scores = self._predict_texts(token_lists, length, batch_size, 8)
        if not isinstance(scores, tf.RaggedTensor):  # the batches were all one width
            scores = tf.RaggedTensor.from_tensor(scores)
        predictions = tf.ragged.map_flat_values(tf.argmax, scores, axis=-1).to_list()
        starts = data.word_start_positions(token_lists, self.tokenizer, length)
        return [
            [self.tags[row[p]] if p >= 0 else "O" for p in positions]
            for row, positions in zip(predictions, starts)
        ]

    def predict(self, x, *args, **kwargs):
        texts = raw_texts(x)
        if texts is None:
            return super().predict(x, *args, **kwargs)
        if not texts:
            return []
        x = texts
        # The words and offsets the exported model finds too (`kerasnlm.export`).
        words, starts, ends = data.split_words_with_offsets(tf.constant(list(x), tf.string))
        words = [[word.decode("utf-8") for word in row] for row in words.to_list()]
        spans = [list(zip(a, b)) for a, b in zip(starts.to_list(), ends.to_list())]
        results = []
        for text, text_spans, word_tags in zip(x, spans, self.predict_word_tags(words)):
            results.append(
                [
                    {
                        "text": text[text_spans[first][0] : text_spans[last][1]],
                        "type": entity_type,
                        "start": text_spans[first][0],
                        "end": text_spans[last][1],
                    }
                    for entity_type, first, last in get_entities(word_tags)
                ]
            )
        return results

    def evaluate_entities(self, token_lists, tag_lists):
        """seqeval's entity-level scores: `{"precision", "recall", "f1"}` (micro averages)
        plus `"report"`, the per-type table."""
        predicted = self.predict_word_tags(token_lists)
        scores = classification_report(tag_lists, predicted, output_dict=True, zero_division=0)
        micro = scores["micro avg"]
        return {
            "precision": float(micro["precision"]),
            "recall": float(micro["recall"]),
            "f1": float(micro["f1-score"]),
            "report": classification_report(tag_lists, predicted, zero_division=0),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout, "tags": self.tags})
        return config

