import keras
from keras import ops

from kerasnlm.distribute.replicas import ReplicaSeed


def position_hits(mask_positions, length):
    """int32 `(batch, slots, length)`: 1 where slot s of row b points at position i, for the
    used slots (position > 0) only; summing over slots scatters per-slot values to positions."""
    mask_positions = ops.cast(mask_positions, "int32")
    hits = ops.logical_and(
        ops.expand_dims(mask_positions, -1) == ops.arange(length, dtype="int32"),
        ops.expand_dims(mask_positions > 0, -1),
    )
    return ops.cast(hits, "int32")


@keras.saving.register_keras_serializable(package="kerasnlm")
class ReplacedTokenSampler(keras.layers.Layer):
    """ELECTRA's corruption: fill the masked positions with tokens sampled from a generator.

    At each prediction slot one token is drawn from `softmax(generator_logits)` (no gradient
    flows back through the draw; each `tf.distribute` replica draws its own) and written into
    `token_ids` at that slot's position. Slots whose position is 0 are unused
    (`kerasnlm.data.masked_lm_dataset` points them at the `[CLS]` token, which is never
    masked) and change nothing.

    Shapes, in: `token_ids` int `(batch, length)`, `mask_positions` int `(batch, slots)`,
    `generator_logits` float `(batch, slots, vocabulary_size)`. Out: the corrupted int32
    `(batch, length)` ids and the int32 `(batch, slots)` samples.

    Args:
        seed: int or None, seeds the draws.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    sampler = knlm.layers.ReplacedTokenSampler(seed=0)
    logits = np.full((1, 2, 10), -1e9, "float32")
    logits[0, 0, 7] = logits[0, 1, 9] = 0.0  # certain draws: 7 then 9
    ids, samples = sampler(np.array([[2, 4, 4, 4, 3]]), np.array([[1, 3]]), logits)
    # ids: [[2, 7, 4, 9, 3]], samples: [[7, 9]]
    ```

    References:
        - [Clark et al., 2020](https://arxiv.org/abs/2003.10555)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, mask_positions, generator_logits):
        mask_positions = ops.cast(mask_positions, "int32")
        batch, slots = ops.shape(mask_positions)[0], ops.shape(mask_positions)[1]
        logits = ops.stop_gradient(ops.cast(generator_logits, "float32"))
        samples = keras.random.categorical(
            ops.reshape(logits, (batch * slots, -1)), 1, dtype="int32",
            seed=ReplicaSeed(self.seed_generator),
        )
        samples = ops.reshape(samples, (batch, slots))
        hits = position_hits(mask_positions, ops.shape(token_ids)[1])
        written = ops.sum(hits, axis=1) > 0
        sampled_at = ops.sum(hits * ops.expand_dims(samples, -1), axis=1)
        corrupted = ops.where(written, sampled_at, ops.cast(token_ids, "int32"))
        return corrupted, samples

    def compute_output_spec(self, token_ids, mask_positions, generator_logits):
        return (
            keras.KerasTensor(token_ids.shape, dtype="int32"),
            keras.KerasTensor(mask_positions.shape, dtype="int32"),
        )

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
