import keras
from keras import ops

from kerasnlm.layers.cross_attention import CrossAttention
from kerasnlm.layers.multi_head_attention import merge_attention_masks
from kerasnlm.layers.transformer_block import BaseTransformerBlock


@keras.saving.register_keras_serializable(package="kerasnlm")
class TransformerDecoder(BaseTransformerBlock):
    """A Transformer decoder block: causal self-attention, cross-attention, feed-forward.

    The encoder block's two sub-blocks (`TransformerEncoder`, whose arguments, sublayers and
    norm placement it shares) with a third in the middle: every target position attends to
    the encoder's outputs (`CrossAttention`). Self-attention is always causal, so position i
    sees only target positions <= i and training with teacher forcing matches decoding one
    token at a time.

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
        if encoder_outputs_shape is None:
            raise ValueError("`TransformerDecoder` is built from the shapes of both inputs.")
        self.build_self_attention(inputs_shape)
        # The feed-forward sublayers before the cross-attention ones, as when this class
        # extended the encoder's `build`: the weights keep their order, so optimizer state
        # saved with older files loads onto the same weights.
        self.build_feedforward(inputs_shape)
        self.cross_attention = CrossAttention(
            self.num_heads, self.dropout, dtype=self.dtype_policy, name="cross_attention",
            **self.initializers(),
        )
        self.cross_attention.build(inputs_shape, encoder_outputs_shape)
        self.cross_attention_norm = self.layer_norm("cross_attention_norm", inputs_shape)
        self.built = True

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
        self_attention_mask = merge_attention_masks(
            inputs, decoder_padding_mask, use_causal_mask=True,
            padding_mask_name="decoder_padding_mask",
            query_start=self_attention_cache_index,
            key_length=ops.shape(self_attention_cache)[3] if decoding else None,
        )

        # Causal self-attention; the second output is the updated cache when decoding.
        h = self.pre_norm(self.self_attention_norm, inputs)
        h, scores_or_cache = self.self_attention(
            h, attention_mask=self_attention_mask, cache=self_attention_cache,
            cache_index=self_attention_cache_index, training=training,
            return_attention_scores=not decoding,
        )
        x = self.add_residual(self.self_attention_norm, inputs, h, training)

        # Cross-attention to the encoder's outputs.
        h = self.pre_norm(self.cross_attention_norm, x)
        h = self.cross_attention(
            h, encoder_outputs, context_mask=encoder_padding_mask, cache=cross_attention_cache,
            training=training,
        )
        x = self.add_residual(self.cross_attention_norm, x, h, training)

        # Feed-forward.
        h = self.pre_norm(self.feedforward_norm, x)
        h = self.feedforward_output(self.feedforward_intermediate(h))
        x = self.add_residual(self.feedforward_norm, x, h, training)

        if decoding:
            return x, scores_or_cache
        return x

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None):
        return inputs_shape
