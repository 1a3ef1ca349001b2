import re

import keras

from kerasnlm.training.recipes import NO_DECAY
from kerasnlm.utils.arguments import fraction
from kerasnlm.utils.arguments import positive_integer

# The layers of `TransformerBackbone` below its first encoder block.
EMBEDDING_LAYERS = ("embedding", "token_embedding", "segment_embedding", "embedding_norm")


@keras.saving.register_keras_serializable(package="kerasnlm")
class LayerwiseDecayAdamW(keras.optimizers.AdamW):
    """AdamW with layer-wise learning-rate decay (LLRD) for fine-tuning a pretrained backbone.

    Lower layers hold more general features and should move less: the task head and anything
    above the encoder blocks get the full learning rate, encoder block `i` (of `num_layers`)
    gets `layer_decay ** (num_layers - i)` of it, and the embeddings (token, position and
    segment, and their LayerNorm) `layer_decay ** (num_layers + 1)`. Biases and LayerNorm
    parameters are exempt from weight decay. It is a Keras optimizer like any other: it works
    inside `fit`, with XLA and under a distribution strategy, because the scale of each
    variable is fixed when the step is traced.

    Args:
        learning_rate: float or schedule, the rate of the head.
        num_layers: int, the backbone's number of encoder blocks.
        layer_decay: float in (0, 1], the factor from one block to the one below.
        weight_decay: float.
        **kwargs: passed to `keras.optimizers.AdamW`.

    Example:
    ```python
    import kerasnlm as knlm

    optimizer = knlm.training.LayerwiseDecayAdamW(1e-4, num_layers=4, layer_decay=0.8)
    optimizer.learning_rate_scale("encoder_0/feedforward_output/kernel")  # 0.8 ** 4
    ```

    References:
        - [Clark et al., 2020](https://arxiv.org/abs/2003.10555) (ELECTRA, layer-wise decay)
    """

    def __init__(
        self, learning_rate=1e-4, num_layers=4, layer_decay=0.8, weight_decay=0.01, **kwargs
    ):
        positive_integer("num_layers", num_layers)
        fraction("layer_decay", layer_decay)
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.num_layers = num_layers
        self.layer_decay = layer_decay
        self.exclude_from_weight_decay(var_names=NO_DECAY)

    def learning_rate_scale(self, path):
        """The factor applied to the learning rate of the variable at `path`."""
        block = re.search(r"(?:^|/)encoder_(\d+)/", path)
        if block:
            return self.layer_decay ** (self.num_layers - int(block.group(1)))
        # The backbone's embedding layers, their LayerNorm included (not a decoder's
        # embeddings, which sit in their own scope).
        if path.split("/")[0] in EMBEDDING_LAYERS:
            return self.layer_decay ** (self.num_layers + 1)
        return 1.0

    def build(self, var_list):
        super().build(var_list)
        # Keyed as the backend keys variables: update_step may receive the backend's own
        # variable (TensorFlow) rather than the Keras one that carries the path.
        self._scales = {self._var_key(v): self.learning_rate_scale(v.path) for v in var_list}

    def update_step(self, gradient, variable, learning_rate):
        scale = self._scales.get(self._var_key(variable), 1.0)
        return super().update_step(gradient, variable, learning_rate * scale)

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "layer_decay": self.layer_decay})
        return config
