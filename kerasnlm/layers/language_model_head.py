import keras
from keras import ops

from kerasnlm.layers.fused_dense import FusedDense


@keras.saving.register_keras_serializable(package="kerasnlm")
class LanguageModelHead(keras.layers.Layer):
    """Vocabulary logits from hidden vectors, through the transposed token-embedding matrix.

    The output projection is not a weight of its own: it is the `embeddings` matrix of the
    given `keras.layers.Embedding`, used transposed (Press & Wolf, 2017), so input and output
    share one variable. With `transform=True` the vectors first go through dense + activation +
    LayerNorm, as in BERT's masked-LM head. A per-token bias is learned.

    The embedding layer belongs to the backbone and is not part of this layer's config: the
    model that owns both rebuilds the tie when it is loaded.

    Shapes: `(batch, n, hidden)` in, float32 `(batch, n, vocabulary_size)` logits out (the
    product runs in the compute dtype, e.g. bfloat16, and is cast to float32 before the bias).

    Args:
        token_embedding: the `keras.layers.Embedding` to tie to (e.g. `backbone.token_embedding`).
        transform: bool, apply dense + activation + LayerNorm first.
        activation: the transform's activation.
        layer_norm_epsilon: float.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    ```python
    import numpy as np
    import keras
    import kerasnlm as knlm

    embedding = keras.layers.Embedding(100, 16)
    embedding.build((None,))
    head = knlm.layers.LanguageModelHead(embedding)
    logits = head(np.random.rand(2, 3, 16).astype("float32"))  # (2, 3, 100)
    ```

    References:
        - [Press & Wolf, 2017](https://arxiv.org/abs/1608.05859)
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """

    def __init__(
        self,
        token_embedding,
        transform=True,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(token_embedding, keras.layers.Embedding):
            raise TypeError(
                "`token_embedding` must be the `keras.layers.Embedding` to tie to (for example "
                f"`backbone.token_embedding`); received {type(token_embedding).__name__}."
            )
        # Not tracked as a sub-layer: the embedding belongs to the backbone. Tracking it here
        # would count its matrix among this layer's weights and make `head.trainable = False`
        # freeze the backbone's input embedding too.
        object.__setattr__(self, "_token_embedding", token_embedding)
        self.transform = transform
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        # A padding mask on the inputs passes to the logits, where Keras losses apply it.
        self.supports_masking = True

    @property
    def token_embedding(self):
        """The tied `keras.layers.Embedding` (owned by the backbone)."""
        return self._token_embedding

    def build(self, input_shape):
        hidden_dim = self.token_embedding.output_dim
        if input_shape[-1] != hidden_dim:
            raise ValueError(
                f"The inputs' last dimension ({input_shape[-1]}) must equal the embedding size "
                f"({hidden_dim}) to tie the output projection to the embedding."
            )
        if self.transform:
            self.transform_dense = FusedDense(
                hidden_dim, activation=self.activation, dtype=self.dtype_policy,
                name="transform_dense",
            )
            self.transform_dense.build(input_shape)
            self.transform_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="transform_norm"
            )
            self.transform_norm.build(input_shape)
        self.bias = self.add_weight(
            name="bias", shape=(self.token_embedding.input_dim,), initializer="zeros",
            dtype="float32", autocast=False,  # logits are float32, so is their bias
        )
        self.built = True

    def call(self, inputs):
        x = inputs
        if self.transform:
            x = self.transform_norm(self.transform_dense(x))
        matrix = ops.cast(self.token_embedding.embeddings, x.dtype)
        logits = ops.matmul(x, ops.transpose(matrix))
        return ops.cast(logits, "float32") + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.token_embedding.input_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "transform": self.transform,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        raise TypeError(
            "A LanguageModelHead is rebuilt by the model that owns it, on its backbone's token "
            "embedding; load the whole model with `keras.models.load_model`."
        )
