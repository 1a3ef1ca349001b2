import keras

from kerasnlm.distribute.replicas import replica_id


class _ReplicaSeed(keras.random.SeedGenerator):
    """Seeds drawn from `generator`, moved to a stream of this replica's own.

    Holds no state of its own (so it skips `SeedGenerator.__init__`): it only offsets the first
    seed word of each draw by the replica index. The second word is the one the generator
    counts up per call, so offsetting it would give replica 1 the mask replica 0 draws next step.
    """

    def __init__(self, generator):  # noqa: D107 - no state to create
        self.generator = generator

    def next(self, ordered=True):
        seed = self.generator.next(ordered=ordered)
        offset = keras.ops.cast(replica_id(), seed.dtype) * 1_000_003
        return seed + keras.ops.stack([offset, keras.ops.zeros_like(offset)])


@keras.saving.register_keras_serializable(package="kerasnlm")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` whose replicas drop different units under a `tf.distribute` strategy.

    Keras' dropout seed state is mirrored across replicas, so under `MirroredStrategy` every
    replica draws the same mask for its slice of the batch: example 0 of replica 0 and example 0
    of replica 1 lose the same units, step after step. This layer offsets the seed by the
    replica's index. On one device (and on JAX) it is exactly `keras.layers.Dropout`.

    Input and output: any shape, unchanged. Arguments as `keras.layers.Dropout`.

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    dropout = knlm.layers.Dropout(0.5, seed=0)
    y = dropout(np.ones((2, 4)), training=True)  # zeros and 2s
    ```
    """

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return keras.random.dropout(
                inputs, self.rate, noise_shape=self.noise_shape,
                seed=_ReplicaSeed(self.seed_generator),
            )
        return inputs
