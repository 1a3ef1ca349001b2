import keras
import numpy as np
from keras import ops

from kerasnlm.utils.arguments import one_of
from kerasnlm.utils.arguments import positive_integer
from kerasnlm.utils.arguments import positive_number
from kerasnlm.utils.checks import check_token_ids
from kerasnlm.utils.checks import poison_out_of_range
from kerasnlm.utils.initializers import clone_initializer
from kerasnlm.utils.memory import check_weights_fit

POSITION_ENCODINGS = ("learned", "sinusoidal")


def sinusoidal_position_table(sequence_length, embedding_dim, max_wavelength=10000):
    """The fixed position table of Vaswani et al. (2017), as a numpy array.

    `table[p, 2i] = sin(p / max_wavelength ** (2i / d))` and
    `table[p, 2i + 1] = cos(p / max_wavelength ** (2i / d))`, shape
    `(sequence_length, embedding_dim)`.
    """
    positions = np.arange(sequence_length, dtype="float64")[:, None]
    even_dims = 2 * (np.arange(embedding_dim) // 2)
    angles = positions / np.power(float(max_wavelength), even_dims / embedding_dim)
    table = np.where(np.arange(embedding_dim) % 2 == 0, np.sin(angles), np.cos(angles))
    return table.astype("float32")


@keras.saving.register_keras_serializable(package="kerasnlm")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus position vectors, added.

    Looks up each token id in a `(vocabulary_size, embedding_dim)` matrix and adds a vector for
    its position: learned (a trainable `(sequence_length, embedding_dim)` table) or the fixed
    sinusoidal encoding of Vaswani et al. (no weights at all). Id 0 is the padding id: with
    `mask_zero=True` (the default) the layer emits a padding mask that downstream layers such
    as `TransformerEncoder` pick up.

    Shapes: int `(batch, length)` with `length <= sequence_length` in,
    `(batch, length, embedding_dim)` out (the layer's compute dtype), mask `(batch, length)`.

    An id outside `[0, vocabulary_size)` raises where the backend can raise (eager, or a
    TensorFlow graph); inside an XLA-compiled step, which can only clamp it to a valid row, it
    turns the whole output NaN instead, so the loss cannot silently train on the wrong row.

    Args:
        vocabulary_size: int, number of rows of the token matrix; ids must be in
            `[0, vocabulary_size)`.
        sequence_length: int, the longest input this layer accepts.
        embedding_dim: int, size of each vector.
        position_encoding: `"learned"` or `"sinusoidal"`.
        mask_zero: bool, whether id 0 is padding and produces a mask.
        embeddings_initializer: initializer for the token matrix and the learned positions;
            `None` means BERT's truncated normal with standard deviation 0.02. Both tables must
            start at the same scale: with Glorot's, a 8000-row token matrix starts 5x smaller
            than a 128-row position table, and a post-norm model then sits at unigram
            perplexity for hundreds of steps (measured).
        max_wavelength: float, the longest wavelength of the sinusoidal encoding.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, `trainable`...).

    Call arguments:
        token_ids: int tensor `(batch, length)`.
        start_index: int, position of the first token; used by cached decoding, which feeds one
            token at a time.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    embedding = knlm.layers.TokenAndPositionEmbedding(
        vocabulary_size=1000, sequence_length=16, embedding_dim=32)
    token_ids = np.array([[5, 9, 2, 0, 0]])
    vectors = embedding(token_ids)  # (1, 5, 32)
    embedding.compute_mask(token_ids)  # [[True, True, True, False, False]]
    embedding.token_embedding.embeddings  # the (1000, 32) matrix output heads tie to
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        position_encoding="learned",
        mask_zero=True,
        embeddings_initializer=None,
        max_wavelength=10000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = positive_integer("vocabulary_size", vocabulary_size)
        self.sequence_length = positive_integer("sequence_length", sequence_length)
        self.embedding_dim = positive_integer("embedding_dim", embedding_dim)
        self.position_encoding = one_of("position_encoding", position_encoding, POSITION_ENCODINGS)
        self.max_wavelength = positive_number("max_wavelength", max_wavelength)
        # Both tables (the sinusoidal one is computed, not trained) are this size.
        check_weights_fit(
            f"TokenAndPositionEmbedding(vocabulary_size={self.vocabulary_size}, "
            f"sequence_length={self.sequence_length}, embedding_dim={self.embedding_dim})",
            (self.vocabulary_size + self.sequence_length) * self.embedding_dim,
        )
        self.mask_zero = mask_zero
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = mask_zero

        # Created here, not in build, so heads can tie to `token_embedding` before first call.
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.embedding_dim,
            embeddings_initializer=clone_initializer(self.embeddings_initializer),
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build((None, None))

    def build(self, input_shape=None):
        if self.position_encoding == "learned":
            self.position_embeddings = self.add_weight(
                name="position_embeddings",
                shape=(self.sequence_length, self.embedding_dim),
                initializer=clone_initializer(self.embeddings_initializer),
            )
        else:
            # A constant, not a weight: nothing to train and nothing to save.
            self.position_embeddings = None
            self._sinusoidal_table = sinusoidal_position_table(
                self.sequence_length, self.embedding_dim, self.max_wavelength
            )
        self.built = True

    def position_vectors(self, length, start_index=0):
        """The `(length, embedding_dim)` position vectors for positions `start_index...`."""
        table = self.position_embeddings
        if table is None:
            table = self._sinusoidal_table
        table = ops.cast(table, self.compute_dtype)
        return ops.slice(table, (start_index, 0), (length, self.embedding_dim))

    def call(self, token_ids, start_index=0):
        token_ids = check_token_ids(token_ids, self.vocabulary_size, self.sequence_length)
        token_vectors = self.token_embedding(token_ids)
        length = ops.shape(token_ids)[1]
        if isinstance(start_index, int) and isinstance(length, int):
            if start_index < 0 or start_index + length > self.sequence_length:
                raise ValueError(
                    f"Positions {start_index}..{start_index + length - 1} are outside "
                    f"[0, {self.sequence_length}) (the `sequence_length`)."
                )
        vectors = token_vectors + self.position_vectors(length, start_index)[None]
        # Under XLA the check above compiles to nothing and the gather clamps a bad id.
        return poison_out_of_range(vectors, token_ids, self.vocabulary_size)

    def compute_mask(self, token_ids, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "position_encoding": self.position_encoding,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
                "max_wavelength": self.max_wavelength,
            }
        )
        return config
