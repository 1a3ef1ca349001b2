import keras
from keras import ops

from kerasnlm.layers.cross_attention import CrossAttention
from kerasnlm.layers.multi_head_attention import merge_attention_masks
from kerasnlm.layers.transformer_encoder import TransformerEncoder
from kerasnlm.utils.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="kerasnlm")
class TransformerDecoder(TransformerEncoder):
    """A Transformer decoder block: causal self-attention, cross-attention, feed-forward.

    The encoder block (`TransformerEncoder`, whose arguments and norm placement it shares)
    with a second sub-block in the middle: every target position attends to the encoder's
    outputs (`CrossAttention`). Self-attention is always causal, so position i sees only
    target positions <= i and training with teacher forcing matches decoding one token at a
    time.

    Shapes: `inputs` `(batch, target_length, hidden)` -> `(batch, target_length, hidden)`;
    `encoder_outputs` `(batch, source_length, encoder_hidden)`.

    Args: as `TransformerEncoder`.

    Call arguments:
        inputs: `(batch, target_length, hidden)`, the embedded target tokens.
        encoder_outputs: `(batch, source_length, encoder_hidden)`.
        decoder_padding_mask: `(batch, target_length)`, true/1 for real target tokens. Pass
            it explicitly: Keras does not hand a layer with two tensor inputs the mask of the
            first. Right padding (as the pipelines make) needs no mask for the real positions,
            which the causal mask already keeps from seeing later padding.
        encoder_padding_mask: `(batch, source_length)`, true/1 for real source tokens.
        self_attention_cache: `(batch, 2, num_heads, max_length, head_dim)`, the keys and
            values of the target positions decoded so far; the call then also returns the
            updated caches.
        self_attention_cache_index: position of `inputs[:, 0]` in that cache.
        cross_attention_cache: `(batch, 2, num_heads, source_length, head_dim)`, the projected
            encoder outputs (`cross_attention.context_cache(encoder_outputs)`), computed once
            per source instead of once per decoded token.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    decoder = knlm.layers.TransformerDecoder(num_heads=4, intermediate_dim=128)
    targets = np.random.rand(2, 6, 64).astype("float32")
    encoder_outputs = np.random.rand(2, 9, 64).astype("float32")
    y = decoder(
        targets, encoder_outputs,
        decoder_padding_mask=np.array([[1] * 6, [1] * 3 + [0] * 3]),
        encoder_padding_mask=np.array([[1] * 9, [1] * 5 + [0] * 4]),
    )
    y.shape  # (2, 6, 64)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def build(self, inputs_shape, encoder_outputs_shape=None):
        super().build(inputs_shape)
        if encoder_outputs_shape is None:
            raise ValueError("`TransformerDecoder` is built from the shapes of both inputs.")
        self.cross_attention = CrossAttention(
            self.num_heads, self.dropout, dtype=self.dtype_policy, name="cross_attention",
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
        )
        self.cross_attention.build(inputs_shape, encoder_outputs_shape)
        self.cross_attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="cross_attention_norm"
        )
        self.cross_attention_norm.build(inputs_shape)

    def call(
        self,
        inputs,
        encoder_outputs=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        self_attention_cache_index=0,
        cross_attention_cache=None,
        training=None,
    ):
        decoding = self_attention_cache is not None
        if decoding and decoder_padding_mask is not None:
            raise ValueError(
                "With a `self_attention_cache` the target mask is causal over the cached "
                "positions; `decoder_padding_mask` is not supported."
            )
        self_mask = merge_attention_masks(
            inputs, decoder_padding_mask, use_causal_mask=True,
            padding_mask_name="decoder_padding_mask",
            query_start=self_attention_cache_index,
            key_length=ops.shape(self_attention_cache)[3] if decoding else None,
        )

        def self_attention(x):
            if not decoding:
                return self.self_attention(x, attention_mask=self_mask, training=training), None
            return self.self_attention(
                x, attention_mask=self_mask, cache=self_attention_cache,
                cache_index=self_attention_cache_index, training=training,
            )

        def cross_attention(x):
            outputs = self.cross_attention(
                x, encoder_outputs, context_mask=encoder_padding_mask,
                cache=cross_attention_cache, training=training,
            )
            return outputs, None

        x, self_attention_cache = self._residual(
            inputs, self.self_attention_norm, self_attention, training
        )
        x, _ = self._residual(x, self.cross_attention_norm, cross_attention, training)
        x = self._feedforward(x, training)
        if decoding:
            return x, self_attention_cache
        return x

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None):
        return inputs_shape
