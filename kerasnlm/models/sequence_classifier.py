import keras
import numpy as np
from keras import ops

from kerasnlm.distribute.losses import WeightedCrossEntropy
from kerasnlm.layers.dropout import Dropout
from kerasnlm.models.task import Task
from kerasnlm.models.task import raw_texts
from kerasnlm.utils import arguments

POOLINGS = ("cls", "mean")


@keras.saving.register_keras_serializable(package="kerasnlm")
class SequenceClassifier(Task):
    """Classifies a text (or a text pair) into one of `num_classes` classes (sentiment, topic...).

    The backbone, shared by reference, encodes `[CLS] text [SEP]`; its `[CLS]` vector
    (`pooling="cls"`) or the mean of its real-token vectors (`pooling="mean"`) goes through
    dropout and a dense layer to class logits. A backbone pretrained as a causal LM can keep
    its causal attention (`use_causal_mask=True`, with mean pooling), as GPT's classifiers do,
    rather than learn to look both ways during fine-tuning. Fine-tuning trains the whole model,
    embeddings included, unless parts are frozen.

    Inputs: `{"token_ids", "padding_mask"}` `(batch, length)`, as made by
    `kerasnlm.data.classification_dataset`, and `"segment_ids"` for text pairs when the
    backbone has `num_segments` (all 0 when left out). Output: float32 logits
    `(batch, num_classes)`. Labels: int class ids. `compile()` defaults: sparse categorical
    cross-entropy on logits, AdamW, `accuracy`.

    Given a `tokenizer` (and optionally `labels`, the class names), `predict` also takes a list
    of raw strings and returns one dict per string: the predicted `label`, its `score`, and
    every class's `probabilities`.

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        num_classes: int >= 2.
        pooling: `"cls"` or `"mean"`.
        dropout: float in [0, 1), before the output layer.
        use_causal_mask: bool, each position attends only to earlier ones.
        tokenizer: optional `kerasnlm.tokenizers.WordPieceTokenizer` for raw-string `predict`.
        labels: optional list of `num_classes` class names.
        **kwargs: passed to `keras.Model`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"])
    classifier.compile()
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("dev"))
    classifier.fit(knlm.data.classification_dataset(
        texts, labels, tokenizer, sequence_length=32, num_classes=2, seed=0), verbose=0)
    classifier.predict(["a gorgeous , witty film", ""])  # [{"label": ..., "score": ...}, ...]
    ```
    """

    def __init__(
        self, backbone, num_classes, pooling="cls", dropout=0.1, use_causal_mask=False,
        tokenizer=None, labels=None, **kwargs,
    ):
        arguments.integer_at_least("num_classes", num_classes, 2)
        arguments.one_of("pooling", pooling, POOLINGS)
        arguments.rate("dropout", dropout)
        if use_causal_mask and pooling == "cls":
            raise ValueError(
                "`pooling='cls'` with `use_causal_mask=True`: the leading [CLS] would see only "
                "itself. Use `pooling='mean'`."
            )
        if labels is not None and len(labels) != num_classes:
            raise ValueError(
                f"`labels` names {len(labels)} classes but `num_classes` is {num_classes}."
            )
        # === Layers ===
        head_dropout = Dropout(dropout, name="head_dropout")
        output_dense = keras.layers.Dense(num_classes, dtype="float32", name="logits")

        # === Functional graph ===
        inputs = backbone.new_inputs()
        # With `use_causal_mask`, the backbone's layers run as the causal LM runs them.
        sequence = backbone.encode_inputs(inputs, use_causal_mask=use_causal_mask)
        if pooling == "cls":
            pooled = backbone.pool(sequence)
        else:
            weights = ops.cast(inputs["padding_mask"], "float32")[:, :, None]
            pooled = ops.sum(sequence * weights, axis=1) / ops.maximum(
                ops.sum(weights, axis=1), 1.0
            )
        logits = output_dense(head_dropout(pooled))
        super().__init__(inputs, logits, backbone=backbone, tokenizer=tokenizer, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.use_causal_mask = use_causal_mask
        self.labels = None if labels is None else [str(label) for label in labels]

    def default_loss(self):
        return WeightedCrossEntropy()

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def label_limit(self):
        return self.num_classes

    def predict(self, x, *args, **kwargs):
        texts = raw_texts(x)
        if texts is None:
            return super().predict(x, *args, **kwargs)
        if not texts:
            return []
        x = texts
        if self.tokenizer is None:
            raise ValueError("Predicting on raw strings needs the classifier's `tokenizer`.")
        # Each batch padded to its longest text (rounded up to 8 for few compiled shapes), not
        # to the backbone's `sequence_length`, which is 512 for a BERT checkpoint.
        logits = self._predict_texts(
            x, self.backbone.sequence_length, kwargs.pop("batch_size", None), 8, *args, **kwargs
        )
        probabilities = ops.convert_to_numpy(ops.softmax(logits))
        names = self.labels or [str(i) for i in range(self.num_classes)]
        return [
            {
                "label": names[int(np.argmax(row))],
                "score": float(np.max(row)),
                "probabilities": dict(zip(names, map(float, row))),
            }
            for row in probabilities
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "dropout": self.dropout,
                "use_causal_mask": self.use_causal_mask,
                "labels": self.labels,
            }
        )
        return config
