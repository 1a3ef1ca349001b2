import keras
from keras import ops

from kerasnlm.layers.multi_head_attention import gather_positions
from kerasnlm.layers.multi_head_attention import merge_attention_masks
from kerasnlm.layers.transformer_block import BaseTransformerBlock


@keras.saving.register_keras_serializable(package="kerasnlm")
class TransformerEncoder(BaseTransformerBlock):
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
        position_bias: None, or `"alibi"` for ALiBi's distance penalty on the attention scores
            (see `MultiHeadAttention`).
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
        query_positions: int `(batch, n)`: compute only the outputs at these positions (each
            still attends to the whole sequence), returning `(batch, n, hidden)`. A masked-LM
            head reads only the masked positions, so its backbone's last block need not
            compute the others: the same numbers for a fraction of the work.

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

    def build(self, input_shape):
        self.build_self_attention(input_shape)
        self.build_feedforward(input_shape)
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
        query_positions=None,
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
            inputs, padding_mask, attention_mask, use_causal_mask or cache is not None,
            query_start=cache_index, key_length=None if cache is None else ops.shape(cache)[3],
        )

        # Self-attention; the second output is the updated cache, or without one the weights.
        h = self.pre_norm(self.self_attention_norm, inputs)
        h, scores_or_cache = self.self_attention(
            h, attention_mask=attention_mask, cache=cache, cache_index=cache_index,
            training=training, return_attention_scores=cache is None,
            query_positions=query_positions,
        )
        if query_positions is not None:
            inputs = gather_positions(inputs, query_positions)
        x = self.add_residual(self.self_attention_norm, inputs, h, training)

        # Feed-forward.
        h = self.pre_norm(self.feedforward_norm, x)
        h = self.feedforward_output(self.feedforward_intermediate(h))
        x = self.add_residual(self.feedforward_norm, x, h, training)

        # Read by `compute_mask`, which Keras calls right after `call` with no call arguments.
        self._outputs_at_positions = query_positions is not None
        if cache is not None or return_attention_scores:
            return x, scores_or_cache
        return x

    def compute_mask(self, inputs, mask=None):
        # Outputs at `query_positions` are other positions than the inputs, so the inputs'
        # padding mask does not describe them; the caller knows which positions it asked for.
        return None if getattr(self, "_outputs_at_positions", False) else mask

    def compute_output_shape(self, input_shape):
        return input_shape
