import keras
from keras import ops

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.multi_head_attention import MultiHeadAttention
from kerasnlm.layers.multi_head_attention import merge_attention_masks
from kerasnlm.utils.activations import get_activation
from kerasnlm.utils.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="kerasnlm")
class TransformerEncoder(keras.layers.Layer):
    """One Transformer block: multi-head self-attention, then a position-wise feed-forward net.

    Each of the two sub-blocks has a residual connection and a LayerNorm: after the residual
    sum (`normalize_first=False`, "post-norm", as in the original Transformer and BERT) or on
    the sub-block's input (`normalize_first=True`, "pre-norm", as in GPT-2), which trains more
    stably in deep stacks. LayerNorm statistics and the attention softmax are computed in
    float32 under mixed precision.

    Masks: a padding mask, from `padding_mask=` or the Keras mask of the inputs (for example
    from `TokenAndPositionEmbedding`), stops attention to padding; `attention_mask=` restricts
    any query/key pair; `use_causal_mask=True` stops attention to later positions. They can be
    combined. The layer passes the incoming Keras mask on unchanged.

    Shapes: `(batch, length, hidden)` in and out (compute dtype).

    Args:
        num_heads: int, number of attention heads; must divide the hidden size.
        intermediate_dim: int, width of the feed-forward net's hidden layer.
        dropout: float in [0, 1), on the attention weights and on each sub-block's output.
        activation: the feed-forward activation; `"gelu"` is the exact (erf) GELU,
            `"gelu_approximate"` its tanh approximation.
        normalize_first: bool, pre-norm if true, post-norm if false.
        layer_norm_epsilon: float, LayerNorm epsilon.
        kernel_initializer: initializer of every dense kernel.
        bias_initializer: initializer of every dense bias.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, length, hidden)`.
        padding_mask: `(batch, length)` bool or int, true/1 for real tokens.
        attention_mask: `(batch, length, length)` bool or int, true/1 where query i may see key j.
        use_causal_mask: bool.
        cache: `(batch, 2, num_heads, max_length, head_dim)` keys and values of the positions
            decoded so far; implies a causal mask, and the call returns `(outputs, cache)`.
        cache_index: position of the first input token, when decoding with `cache`.
        return_attention_scores: if true, return `(outputs, weights)` with float32 weights
            `(batch, num_heads, length, length)`.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    encoder = knlm.layers.TransformerEncoder(num_heads=4, intermediate_dim=128)
    x = np.random.rand(2, 10, 64).astype("float32")
    padding_mask = np.array([[1] * 10, [1] * 6 + [0] * 4])
    y = encoder(x, padding_mask=padding_mask)  # (2, 10, 64)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Xiong et al., 2020](https://arxiv.org/abs/2002.04745) (pre-norm)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="gelu",
        normalize_first=False,
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"`num_heads` must be a positive integer; received {num_heads!r}.")
        if not isinstance(intermediate_dim, int) or intermediate_dim < 1:
            raise ValueError(
                f"`intermediate_dim` must be a positive integer; received {intermediate_dim!r}."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1); received {dropout!r}.")
        if layer_norm_epsilon <= 0:
            raise ValueError(
                f"`layer_norm_epsilon` must be positive; received {layer_norm_epsilon!r}."
            )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = get_activation(activation)
        self.normalize_first = normalize_first
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        if hidden_dim is None or hidden_dim % self.num_heads:
            raise ValueError(
                f"The hidden size ({hidden_dim}) must be divisible by `num_heads` "
                f"({self.num_heads})."
            )
        intermediate_shape = tuple(input_shape[:-1]) + (self.intermediate_dim,)

        def initializers():
            # A fresh initializer each time, so no two weights share a seed.
            return dict(
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
            )

        self.self_attention = MultiHeadAttention(
            self.num_heads, self.dropout, dtype=self.dtype_policy, name="self_attention",
            **initializers(),
        )
        self.self_attention.build(input_shape)
        self.self_attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="self_attention_norm"
        )
        self.self_attention_norm.build(input_shape)
        self.feedforward_intermediate = FusedDense(
            self.intermediate_dim, activation=self.activation, dtype=self.dtype_policy,
            name="feedforward_intermediate", **initializers(),
        )
        self.feedforward_intermediate.build(input_shape)
        self.feedforward_output = FusedDense(
            hidden_dim, dtype=self.dtype_policy, name="feedforward_output", **initializers()
        )
        self.feedforward_output.build(intermediate_shape)
        self.feedforward_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="feedforward_norm"
        )
        self.feedforward_norm.build(input_shape)
        self.output_dropout = Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_index=0,
        training=None,
        return_attention_scores=False,
        mask=None,
    ):
        if cache is not None and (padding_mask is not None or attention_mask is not None):
            raise ValueError(
                "With a key/value `cache` the mask is causal over the cached positions; "
                "`padding_mask` and `attention_mask` are not supported (decode right-padded "
                "prompts, as `CausalLanguageModel.generate` does)."
            )
        if padding_mask is None and cache is None:
            padding_mask = mask  # the Keras mask carried by `inputs`, if any
        attention_mask = merge_attention_masks(
            inputs,
            padding_mask,
            attention_mask,
            use_causal_mask or cache is not None,
            query_start=cache_index,
            key_length=None if cache is None else ops.shape(cache)[3],
        )

        def attention(x):
            if cache is None:
                return self.self_attention(
                    x, attention_mask=attention_mask, training=training,
                    return_attention_scores=True,
                )
            return self.self_attention(
                x, attention_mask=attention_mask, cache=cache, cache_index=cache_index,
                training=training,
            )

        x, scores_or_cache = self._residual(inputs, self.self_attention_norm, attention, training)
        x = self._feedforward(x, training)
        if cache is not None or return_attention_scores:
            return x, scores_or_cache
        return x

    def _residual(self, inputs, norm, sublayer, training):
        """`sublayer` with its residual connection and LayerNorm (before it in pre-norm,
        after the sum in post-norm). `sublayer` returns `(outputs, extra)`; so does this."""
        x, extra = sublayer(norm(inputs) if self.normalize_first else inputs)
        x = inputs + self.output_dropout(x, training=training)
        return (x if self.normalize_first else norm(x)), extra

    def _feedforward(self, inputs, training):
        def feedforward(x):
            return self.feedforward_output(self.feedforward_intermediate(x)), None

        return self._residual(inputs, self.feedforward_norm, feedforward, training)[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "normalize_first": self.normalize_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
