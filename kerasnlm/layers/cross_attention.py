import keras
from keras import ops

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.multi_head_attention import BaseAttention
from kerasnlm.layers.multi_head_attention import attend
from kerasnlm.layers.multi_head_attention import merge_heads
from kerasnlm.layers.multi_head_attention import split_heads
from kerasnlm.utils.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="kerasnlm")
class CrossAttention(BaseAttention):
    """Multi-head attention from one sequence (queries) to another (the context).

    The decoder's view of the encoder: queries are projected from `inputs`, keys and values
    (one fused projection) from `context`. The arguments and the attention arithmetic (`attend`:
    scores and softmax in float32) are those of `MultiHeadAttention`; only the projections
    differ.

    When decoding one token at a time the context does not change, so its keys and values can
    be projected once with `context_cache(context)` and passed back as `cache=`.

    Shapes: `inputs` `(batch, length, hidden)` -> `(batch, length, hidden)`; `context`
    `(batch, context_length, context_dim)` (any width); `cache` `(batch, 2, num_heads,
    context_length, head_dim)`; attention weights float32 `(batch, num_heads, length,
    context_length)`.

    Args:
        num_heads: int, number of heads; must divide the hidden size of `inputs`.
        dropout: float in [0, 1), dropout on the attention weights.
        kernel_initializer: initializer of the projection matrices.
        bias_initializer: initializer of the projection biases.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, length, hidden)`, the queries.
        context: `(batch, context_length, context_dim)`; not needed when `cache` is given.
        context_mask: `(batch, context_length)`, true/1 for real context tokens (padding is
            never attended to).
        cache: the context's keys and values from `context_cache`.
        return_attention_scores: also return the attention weights.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    attention = knlm.layers.CrossAttention(num_heads=4)
    queries = np.random.rand(2, 5, 64).astype("float32")
    context = np.random.rand(2, 9, 32).astype("float32")
    y = attention(queries, context, context_mask=np.array([[1] * 9, [1] * 4 + [0] * 5]))
    y.shape  # (2, 5, 64)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def build(self, inputs_shape, context_shape=None):
        self.set_head_sizes(inputs_shape[-1])
        if context_shape is None:
            raise ValueError("`CrossAttention` is built from the shapes of inputs and context.")

        def dense(units, name):
            return FusedDense(
                units, name=name, dtype=self.dtype_policy,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
            )

        self.query = dense(self.hidden_dim, "query")
        self.query.build(inputs_shape)
        self.key_value = dense(2 * self.hidden_dim, "key_value")
        self.key_value.build(context_shape)
        self.output_projection = dense(self.hidden_dim, "output")
        self.output_projection.build(inputs_shape)
        self.weights_dropout = Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def context_cache(self, context):
        """The keys and values of `context`, `(batch, 2, num_heads, context_length, head_dim)`."""
        key, value = ops.split(self.key_value(context), 2, axis=-1)
        return ops.stack([split_heads(key, self.num_heads), split_heads(value, self.num_heads)], 1)

    def call(
        self, inputs, context=None, context_mask=None, cache=None, training=None,
        return_attention_scores=False,
    ):
        if cache is None:
            if context is None:
                raise ValueError("`CrossAttention` needs `context` or its `cache`.")
            cache = self.context_cache(context)
        mask = None
        if context_mask is not None:
            mask = ops.cast(context_mask, "bool")[:, None, :]  # the same keys for every query
        query = split_heads(self.query(inputs), self.num_heads)
        mixed, weights = attend(
            query, cache[:, 0], cache[:, 1], mask, self.weights_dropout, training
        )
        outputs = self.output_projection(merge_heads(mixed))
        if return_attention_scores:
            return outputs, weights
        return outputs

    def compute_output_shape(self, inputs_shape, context_shape=None):
        return inputs_shape
