import keras

from kerasnlm.distribute.replicas import ReplicaSeed


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
                seed=ReplicaSeed(self.seed_generator),
            )
        return inputs
