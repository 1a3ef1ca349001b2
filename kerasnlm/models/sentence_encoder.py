import json
import os

import keras
import numpy as np
from keras import ops

from kerasnlm.models.task import Task
from kerasnlm.models.task import raw_texts
from kerasnlm.utils import arguments

POOLINGS = ("mean", "cls", "max")
# sentence-transformers' pooling flags -> ours.
SENTENCE_TRANSFORMERS_POOLINGS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}


@keras.saving.register_keras_serializable(package="kerasnlm")
class SentenceEncoder(Task):
    """One vector per text: the backbone's token vectors pooled, then scaled to unit length.

    The backbone, shared by reference, encodes `[CLS] text [SEP]`; `pooling="mean"` averages
    the vectors of the real tokens (padding excluded), `"cls"` takes the first token's, `"max"`
    the element-wise maximum over real tokens; `normalize=True` divides by the L2 norm, so dot
    products are cosine similarities. This is sentence-transformers' model
    (Transformer -> Pooling -> Normalize), and `from_pretrained` loads its folders.

    Inputs: `{"token_ids", "padding_mask"}` `(batch, length)`. Output: float32
    `(batch, hidden_dim)`. Given a `tokenizer`, `predict` also takes a list of strings and
    returns a numpy array of one vector per string, computed in batches of similar length
    (as sentence-transformers does), so short texts are not padded to the longest.

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        pooling: `"mean"`, `"cls"` or `"max"`.
        normalize: bool, scale every vector to unit L2 norm.
        sequence_length: int, texts are cut to this many tokens (`[CLS]` and `[SEP]`
            included); `None` for the backbone's `sequence_length`.
        tokenizer: optional `kerasnlm.tokenizers.WordPieceTokenizer` for raw strings.
        **kwargs: passed to `keras.Model`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    encoder = knlm.models.SentenceEncoder(backbone, tokenizer=tokenizer)
    vectors = encoder.predict(["a gorgeous film", "a dull film", ""])  # (3, 32), unit norm
    ```

    References:
        - [Reimers and Gurevych, 2019](https://arxiv.org/abs/1908.10084) (Sentence-BERT)
    """

    def __init__(
        self, backbone, pooling="mean", normalize=True, sequence_length=None, tokenizer=None,
        **kwargs,
    ):
        arguments.one_of("pooling", pooling, POOLINGS)
        if sequence_length is not None:
            # At most the backbone's: its position embedding has no rows beyond.
            arguments.integer_in("sequence_length", sequence_length, 2, backbone.sequence_length)
        # === Functional graph ===
        inputs = backbone.new_inputs()
        sequence = backbone.encode_inputs(inputs)
        real = ops.cast(inputs["padding_mask"], "float32")[:, :, None]
        if pooling == "mean":
            vectors = ops.sum(sequence * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1e-9)
        elif pooling == "max":
            vectors = ops.max(ops.where(real > 0, sequence, -1e9), axis=1)
        else:
            vectors = sequence[:, 0, :]
        if normalize:
            norm = ops.sqrt(ops.sum(ops.square(vectors), axis=-1, keepdims=True))
            vectors = vectors / ops.maximum(norm, 1e-12)
        super().__init__(inputs, vectors, backbone=backbone, tokenizer=tokenizer, **kwargs)

        # === Config ===
        self.pooling = pooling
        self.normalize = normalize
        self.sequence_length = sequence_length

    def default_loss(self):
        raise ValueError(
            "`SentenceEncoder` has no default loss: pass `loss=` to `compile`, e.g. a "
            "cosine-similarity loss on pairs of texts."
        )

    def predict(self, x, *args, batch_size=None, **kwargs):
        """Keras `predict`; on a list of strings, a numpy array `(len(x), hidden_dim)`."""
        texts = raw_texts(x)
        if texts is None:
            return super().predict(x, *args, batch_size=batch_size, **kwargs)
        if not texts:
            return np.empty((0, self.backbone.hidden_dim), "float32")
        x = texts
        if self.tokenizer is None:
            raise ValueError("Encoding raw strings needs the encoder's `tokenizer`.")
        length = self.sequence_length or self.backbone.sequence_length
        # Sorted longest first, each batch cut to its longest text. Exact lengths cost nothing
        # as a TensorFlow graph (Keras' default on CPU); under `jit_compile=True` each new
        # length compiles once (~0.5 s for MiniLM on 2 cores), which long jobs repay.
        return self._predict_texts(x, length, batch_size, 1, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """A sentence encoder from a local sentence-transformers folder.

        Reads `modules.json` (a Transformer module, a Pooling module, and optionally
        Normalize), the pooling mode from the Pooling module's `config.json`, the longest input
        from `sentence_bert_config.json`, and the BERT backbone and tokenizer from the
        Transformer module's folder (see `TransformerBackbone.from_pretrained`). Modules this
        class does not compute (Dense, several pooling modes at once...) are refused.

        Args:
            path: the folder.
            **kwargs: passed to the constructor, overriding what the folder says; `dtype`
                (e.g. `"mixed_bfloat16"`) and `dropout` go to the backbone.

        Example:
        ```python
        encoder = knlm.models.SentenceEncoder.from_pretrained("all-MiniLM-L6-v2/")
        vectors = encoder.predict(["a sentence", "another"])  # (2, 384), unit vectors
        ```
        """
        from kerasnlm.models.backbone import TransformerBackbone
        from kerasnlm.tokenizers import WordPieceTokenizer

        folder = os.fspath(path)

        def read(*parts):
            file = os.path.join(folder, *parts)
            if not os.path.exists(file):
                raise ValueError(f"'{folder}' holds no {os.path.join(*parts)}: not a "
                                 "sentence-transformers folder.")
            with open(file, encoding="utf-8") as f:
                return json.load(f)

        modules = {m["type"].rsplit(".", 1)[-1]: m.get("path", "") for m in read("modules.json")}
        unsupported = sorted(set(modules) - {"Transformer", "Pooling", "Normalize"})
        if unsupported or "Transformer" not in modules or "Pooling" not in modules:
            raise ValueError(
                f"'{folder}': modules {sorted(modules)}; only Transformer -> Pooling "
                "(-> Normalize) can be loaded."
            )
        pooling_config = read(modules["Pooling"], "config.json")
        modes = sorted(key for key, on in pooling_config.items()
                       if key.startswith("pooling_mode") and on is True)
        if len(modes) != 1 or modes[0] not in SENTENCE_TRANSFORMERS_POOLINGS:
            raise ValueError(
                f"'{folder}': pooling {modes}; one of {sorted(SENTENCE_TRANSFORMERS_POOLINGS)} "
                "is supported."
            )
        transformer = os.path.join(folder, modules["Transformer"])
        sentence_config = {}
        if os.path.exists(os.path.join(transformer, "sentence_bert_config.json")):
            sentence_config = read(modules["Transformer"], "sentence_bert_config.json")
        tokenizer = WordPieceTokenizer.from_pretrained(transformer)
        if sentence_config.get("do_lower_case") and not tokenizer.lowercase:
            raise ValueError(
                f"'{folder}': `do_lower_case` lowercases before a cased tokenizer, which this "
                "class does not reproduce."
            )
        backbone_arguments = {k: kwargs.pop(k) for k in ("dtype", "dropout") if k in kwargs}
        backbone = TransformerBackbone.from_pretrained(transformer, **backbone_arguments)
        arguments = dict(
            pooling=SENTENCE_TRANSFORMERS_POOLINGS[modes[0]],
            normalize="Normalize" in modules,
            sequence_length=sentence_config.get("max_seq_length"),
            tokenizer=tokenizer,
        )
        arguments.update(kwargs)
        return cls(backbone, **arguments)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pooling": self.pooling,
                "normalize": self.normalize,
                "sequence_length": self.sequence_length,
            }
        )
        return config
