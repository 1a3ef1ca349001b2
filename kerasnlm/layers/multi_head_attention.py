import math

import keras
from keras import ops

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.utils.arguments import one_of
from kerasnlm.utils.arguments import positive_integer
from kerasnlm.utils.arguments import rate
from kerasnlm.utils.initializers import clone_initializer

# Added to the scores of masked keys. Finite, so a row whose keys are all masked (a sequence of
# padding only) gives uniform weights instead of NaN; scores are float32 here, so it is exact.
MASKED_SCORE = -1e9

# What `MultiHeadAttention(position_bias=...)` may add to the scores: nothing, or ALiBi's.
POSITION_BIASES = (None, "alibi")


def merge_attention_masks(
    inputs, padding_mask=None, attention_mask=None, use_causal_mask=False, query_start=0,
    key_length=None, padding_mask_name="padding_mask",
):
    """Combines the three ways to restrict attention into one boolean mask, or None.

    Args:
        inputs: the `(batch, length, hidden)` sequence that attends to itself.
        padding_mask: `(batch, length)`, true (or 1) for real tokens; masks keys.
        attention_mask: `(batch, length, length)`, true where query i may attend to key j.
        use_causal_mask: if true, query i may only attend to keys j <= i.
        query_start: with a key/value cache, the position of the first query; queries are
            positions `query_start + i` and keys are the `key_length` cached positions.
        key_length: number of keys when it differs from `length` (a cache).
        padding_mask_name: how errors name `padding_mask` (the caller's argument name).

    Returns:
        A boolean tensor broadcastable to `(batch, length, key_length)`, or None when nothing
        is masked.
    """
    batch, length = inputs.shape[0], inputs.shape[1]
    mask = None
    if padding_mask is not None:
        if len(padding_mask.shape) != 2 or any(
            a is not None and b is not None and a != b
            for a, b in zip(padding_mask.shape, (batch, length))
        ):
            raise ValueError(
                f"`{padding_mask_name}` must have shape (batch, length) = "
                f"{(batch, length)} to match the inputs; received {tuple(padding_mask.shape)}."
            )
        mask = ops.cast(padding_mask, "bool")[:, None, :]
    if attention_mask is not None:
        if len(attention_mask.shape) != 3 or any(
            a is not None and b is not None and a != b
            for a, b in zip(attention_mask.shape, (batch, length, length))
        ):
            raise ValueError(
                "`attention_mask` must have shape (batch, length, length) = "
                f"{(batch, length, length)}; received {tuple(attention_mask.shape)}."
            )
        attention_mask = ops.cast(attention_mask, "bool")
        mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
    if use_causal_mask:
        queries = ops.arange(ops.shape(inputs)[1]) + query_start
        keys = ops.arange(ops.shape(inputs)[1] if key_length is None else key_length)
        causal = ops.greater_equal(queries[:, None], keys[None, :])[None]
        mask = causal if mask is None else ops.logical_and(mask, causal)
    return mask


def gather_positions(x, positions):
    """The rows of `x` at `positions`: `(batch, length, d)` and int `(batch, n)` ->
    `(batch, n, d)`; a mask `(1 or batch, length, length)` gives its rows `(batch, n, length)`,
    and a mask `(batch, 1, length)` (the same for every query) is returned as it is."""
    if x.shape[1] == 1:
        return x
    if x.shape[0] == 1:  # a mask shared by the batch (causal): give it the batch's size
        x = ops.repeat(x, ops.shape(positions)[0], axis=0)
    return ops.take_along_axis(x, positions[:, :, None], axis=1)


def alibi_bias(num_heads, query_positions, key_length):
    """ALiBi's score bias: `-slope[h] * |i - j|` for query position i and key position j.

    Head h's slope is `2 ** (-8 * (h + 1) / num_heads)` (1/4, 1/16, 1/64, 1/256 for 4 heads):
    the first heads look mostly at near neighbours, the last ones almost evenly everywhere.
    Nothing is trained. From step 0 every position then reads its neighbours, which a masked
    position needs to be predicted at all; learned absolute positions must first be learned
    to do the same (see `configs/pretrain_mlm.yaml` for what that costs). The distance is
    symmetric, as in bidirectional uses of ALiBi (MosaicBERT); learned or sinusoidal position
    vectors, kept beside it, tell left from right.

    Args:
        num_heads: int.
        query_positions: int `(batch or 1, query_length)`, each query's position.
        key_length: int or scalar tensor; keys are positions `0 ... key_length - 1`.

    Returns:
        float32 `(batch or 1, num_heads, query_length, key_length)`.

    References:
        - [Press et al., 2022](https://arxiv.org/abs/2108.12409)
    """
    slopes = ops.convert_to_tensor(
        [2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)], "float32"
    )
    query_positions = ops.cast(query_positions, "int32")
    distance = ops.abs(query_positions[:, :, None] - ops.arange(key_length)[None, None, :])
    return -ops.cast(distance, "float32")[:, None] * slopes[None, :, None, None]


def attend(query, key, value, attention_mask, weights_dropout, training=None, bias=None):
    """Scaled dot-product attention of every head at once.

    Args:
        query: `(batch, heads, query_length, head_dim)`.
        key, value: `(batch, heads, key_length, head_dim)`.
        attention_mask: None or boolean, broadcastable to `(batch, query_length, key_length)`.
        weights_dropout: a `keras.layers.Dropout` applied to the attention weights.
        bias: None or float32, broadcastable to `(batch, heads, query_length, key_length)`,
            added to the scores before masking (a position bias such as `alibi_bias`).

    Returns:
        `(mixed, weights)`: the weighted values `(batch, heads, query_length, head_dim)` in the
        compute dtype, and the float32 weights `(batch, heads, query_length, key_length)`.
    """
    query = query * ops.cast(1.0 / math.sqrt(ops.shape(query)[-1]), query.dtype)
    # Scores in float32 whatever the compute dtype: bfloat16 softmax loses whole tokens.
    scores = ops.cast(ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))), "float32")
    if bias is not None:
        scores = scores + bias
    if attention_mask is not None:
        scores = ops.where(attention_mask[:, None], scores, MASKED_SCORE)
    weights = ops.softmax(scores, axis=-1)
    dropped = weights_dropout(ops.cast(weights, value.dtype), training=training)
    return ops.matmul(dropped, value), weights


def split_heads(x, num_heads):
    """`(batch, length, heads * head_dim)` -> `(batch, heads, length, head_dim)`."""
    x = ops.reshape(x, (-1, ops.shape(x)[1], num_heads, x.shape[-1] // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """`(batch, heads, length, head_dim)` -> `(batch, length, heads * head_dim)`."""
    x = ops.transpose(x, (0, 2, 1, 3))
    return ops.reshape(x, (-1, ops.shape(x)[1], x.shape[2] * x.shape[3]))


class BaseAttention(keras.layers.Layer):
    """What `MultiHeadAttention` and `CrossAttention` share: arguments, config, head sizes.

    Not a layer to use by itself: each subclass writes its own `build` (its projections) and
    `call` (the projections around `attend`). The arguments are those of `MultiHeadAttention`.
    """

    def __init__(
        self,
        num_heads,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = positive_integer("num_heads", num_heads)
        self.dropout = rate("dropout", dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def set_head_sizes(self, hidden_dim):
        """Sets `hidden_dim` and `head_dim` from the queries' width, which `num_heads` divides."""
        if hidden_dim is None or hidden_dim % self.num_heads:
            raise ValueError(
                f"The hidden size ({hidden_dim}) must be divisible by `num_heads` "
                f"({self.num_heads})."
            )
        self.hidden_dim = hidden_dim
        self.head_dim = hidden_dim // self.num_heads

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kerasnlm")
class MultiHeadAttention(BaseAttention):
    """Multi-head scaled dot-product self-attention with one fused query/key/value projection.

    One `(hidden, 3 * hidden)` matrix product gives queries, keys and values for every head;
    the scores are cast to float32 before masking and softmax whatever the layer's dtype
    policy (the query-key product itself runs in the compute dtype, as in keras-hub).

    Shapes: `(batch, length, hidden)` in and out; the optional attention weights are float32
    `(batch, num_heads, length, length)`; the optional key/value cache is
    `(batch, 2, num_heads, max_length, head_dim)`.

    Args:
        num_heads: int, number of heads; must divide the input's hidden size.
        dropout: float in [0, 1), dropout on the attention weights.
        kernel_initializer: initializer of the projection matrices.
        bias_initializer: initializer of the projection biases.
        position_bias: None, or `"alibi"` to add ALiBi's distance penalty to the scores
            (`alibi_bias`), which makes attention to near neighbours the starting point.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, length, hidden)`.
        attention_mask: boolean, broadcastable to `(batch, length, length)`; true where query i
            may attend to key j (see `merge_attention_masks`).
        cache: keys and values of earlier positions, for decoding one step at a time; when
            given, the call returns `(outputs, updated_cache)`.
        cache_index: int or scalar tensor, the position of the first input token in the cache.
        return_attention_scores: also return the attention weights (not with `cache`).
        query_positions: int `(batch, n)`, or None for every position: compute only the
            outputs at these positions, each attending to every key; the outputs are then
            `(batch, n, hidden)` and `attention_mask` is the full `(batch, length, length)` one
            (its rows are picked here). A masked-LM's last block needs nothing else.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    attention = knlm.layers.MultiHeadAttention(num_heads=4)
    x = np.random.rand(2, 10, 64).astype("float32")
    y, weights = attention(x, return_attention_scores=True)  # (2, 10, 64), (2, 4, 10, 10)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(self, num_heads, dropout=0.0, position_bias=None, **kwargs):
        super().__init__(num_heads, dropout, **kwargs)
        self.position_bias = one_of("position_bias", position_bias, POSITION_BIASES)

    def build(self, input_shape):
        self.set_head_sizes(input_shape[-1])

        def dense(units, name):
            # Fresh initializers for each projection: one shared instance would draw the same
            # numbers twice, starting the output kernel as a copy of the query kernel.
            return FusedDense(
                units, name=name, dtype=self.dtype_policy,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
            )

        self.query_key_value = dense(3 * self.hidden_dim, "query_key_value")
        self.query_key_value.build(input_shape)
        self.output_projection = dense(self.hidden_dim, "output")
        self.output_projection.build(input_shape)
        self.weights_dropout = Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(
        self,
        inputs,
        attention_mask=None,
        cache=None,
        cache_index=0,
        training=None,
        return_attention_scores=False,
        query_positions=None,
    ):
        if query_positions is not None and cache is not None:
            raise ValueError("`query_positions` is not supported with a key/value `cache`.")
        length = ops.shape(inputs)[1]
        projected = self.query_key_value(inputs)
        # (batch, length, n * hidden) -> n tensors (batch, heads, length, head_dim): queries,
        # keys and values, or with `query_positions` keys and values only (the queries come
        # from the picked rows alone).
        if query_positions is None:
            query, key, value = self.split_projection(projected, 3)
        else:
            query = split_heads(
                gather_positions(projected[..., : self.hidden_dim], query_positions),
                self.num_heads,
            )
            key, value = self.split_projection(projected[..., self.hidden_dim :], 2)
            if attention_mask is not None:
                attention_mask = gather_positions(attention_mask, query_positions)
        if cache is not None:
            # Decoding: write this step's keys and values into the cache at `cache_index` and
            # attend over the whole cache (the mask hides positions not written yet).
            start = (0, 0, cache_index, 0)
            key = ops.slice_update(cache[:, 0], start, ops.cast(key, cache.dtype))
            value = ops.slice_update(cache[:, 1], start, ops.cast(value, cache.dtype))
            cache = ops.stack([key, value], axis=1)
        bias = None
        if self.position_bias == "alibi":
            if query_positions is None:
                query_positions = ops.arange(length)[None] + cache_index
            bias = alibi_bias(self.num_heads, query_positions, ops.shape(key)[2])

        mixed, weights = attend(
            query, key, value, attention_mask, self.weights_dropout, training, bias
        )
        outputs = self.output_projection(merge_heads(mixed))
        if cache is not None:
            return outputs, cache
        if return_attention_scores:
            return outputs, weights
        return outputs

    def split_projection(self, projected, parts):
        """`(batch, length, parts * hidden)` -> `parts` tensors `(batch, heads, length,
        head_dim)`, in one transpose."""
        length = ops.shape(projected)[1]
        split = ops.reshape(projected, (-1, length, parts, self.num_heads, self.head_dim))
        return ops.unstack(ops.transpose(split, (2, 0, 3, 1, 4)), parts, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "position_bias": self.position_bias}
