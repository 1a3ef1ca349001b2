"""What `TransformerEncoder` and `TransformerDecoder` are both made of."""

import keras

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.multi_head_attention import POSITION_BIASES
from kerasnlm.layers.multi_head_attention import MultiHeadAttention
from kerasnlm.utils.activations import get_activation
from kerasnlm.utils.arguments import one_of
from kerasnlm.utils.arguments import positive_integer
from kerasnlm.utils.arguments import positive_number
from kerasnlm.utils.arguments import rate
from kerasnlm.utils.initializers import clone_initializer


class BaseTransformerBlock(keras.layers.Layer):
    """The arguments, config and sublayers the encoder and decoder blocks share.

    Not a layer to use by itself: `TransformerEncoder` and `TransformerDecoder` each write their
    own `build` and `call` (two sub-blocks and three). Every sub-block is wired the same way,

        h = self.pre_norm(norm, x)                  # norm(x) in pre-norm, x in post-norm
        h = sublayer(h)
        x = self.add_residual(norm, x, h, training)  # x + dropout(h), normalized in post-norm

    that is nanoGPT's `x = x + sublayer(norm(x))`, with the norm moved after the sum when
    `normalize_first=False`. The arguments are those of `TransformerEncoder`.
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
        position_bias=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = positive_integer("num_heads", num_heads)
        self.intermediate_dim = positive_integer("intermediate_dim", intermediate_dim)
        self.dropout = rate("dropout", dropout)
        self.activation = get_activation(activation)
        self.normalize_first = normalize_first
        self.layer_norm_epsilon = positive_number("layer_norm_epsilon", layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.position_bias = one_of("position_bias", position_bias, POSITION_BIASES)
        self.supports_masking = True

    def pre_norm(self, norm, x):
        """The input of a sub-block's sublayer: `norm(x)` in pre-norm, `x` in post-norm."""
        return norm(x) if self.normalize_first else x

    def add_residual(self, norm, x, sublayer_outputs, training=None):
        """The output of a sub-block: `x + dropout(sublayer_outputs)`, normalized in post-norm."""
        x = x + self.output_dropout(sublayer_outputs, training=training)
        return x if self.normalize_first else norm(x)

    def initializers(self):
        """Fresh copies of the kernel and bias initializers, so no two weights share a seed."""
        return dict(
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
        )

    def layer_norm(self, name, input_shape):
        """A built LayerNormalization named `name`."""
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        norm.build(input_shape)
        return norm

    def build_self_attention(self, input_shape):
        """The self-attention sub-block's sublayers: `self_attention` and its norm."""
        self.self_attention = MultiHeadAttention(
            self.num_heads, self.dropout, position_bias=self.position_bias,
            dtype=self.dtype_policy, name="self_attention", **self.initializers(),
        )
        self.self_attention.build(input_shape)
        self.self_attention_norm = self.layer_norm("self_attention_norm", input_shape)

    def build_feedforward(self, input_shape):
        """The feed-forward sub-block's sublayers, and the dropout on every sub-block's output."""
        self.feedforward_intermediate = FusedDense(
            self.intermediate_dim, activation=self.activation, dtype=self.dtype_policy,
            name="feedforward_intermediate", **self.initializers(),
        )
        self.feedforward_intermediate.build(input_shape)
        self.feedforward_output = FusedDense(
            input_shape[-1], dtype=self.dtype_policy, name="feedforward_output",
            **self.initializers(),
        )
        self.feedforward_output.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.feedforward_norm = self.layer_norm("feedforward_norm", input_shape)
        self.output_dropout = Dropout(self.dropout, dtype=self.dtype_policy)

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
                "position_bias": self.position_bias,
            }
        )
        return config
