import keras
from keras import ops

from kerasnlm.distribute import keras_fixes  # noqa: F401  (checks what is patched here)
from kerasnlm.distribute.replicas import sum_over_replicas


@keras.saving.register_keras_serializable(package="kerasnlm")
class WeightedCrossEntropy(keras.losses.Loss):
    """Sparse cross-entropy on logits, averaged over the weighted examples or tokens of the
    *global* batch.

    The mean divides by the sum of the sample weights (1 per real token, 0 per padding), and
    under a `tf.distribute` strategy that sum is taken over all replicas. Keras' own
    `reduction="mean_with_sample_weight"` divides each replica's sum by that replica's weights,
    so the replicas' gradients average to a mean of means: when one replica holds 300 real
    tokens and another 100, those 100 count three times as much as on one device. Here every
    replica's loss is its share of the global mean, so the summed gradients equal the
    single-device gradient of the same global batch.

    Inputs: `y_true` int class ids `(batch,)` or `(batch, length)`; `y_pred` float logits with
    one more axis of size `num_classes`; `sample_weight` shaped like `y_true` (optional).
    Returns a float32 scalar.

    It replaces `keras.losses.Loss.__call__`, whose reduction is the bug: checked on import by
    `kerasnlm.distribute.keras_fixes.check_keras`.
    """

    def __init__(self, name="weighted_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)

    def __call__(self, y_true, y_pred, sample_weight=None):
        losses = self.call(y_true, ops.cast(y_pred, "float32"))
        if sample_weight is None:
            weights = ops.ones_like(losses)
        else:
            weights = ops.cast(sample_weight, "float32")
        weights = ops.reshape(weights, ops.shape(losses))
        # Not divided by the number of replicas as Keras' losses are: this is already each
        # replica's share of the global mean, and the replicas' gradients are summed.
        return ops.divide_no_nan(ops.sum(losses * weights), sum_over_replicas(ops.sum(weights)))


@keras.saving.register_keras_serializable(package="kerasnlm")
class WeightedBinaryCrossEntropy(WeightedCrossEntropy):
    """Binary cross-entropy on logits, averaged over the weighted tokens of the *global* batch
    (the reduction of `WeightedCrossEntropy`).

    Inputs: `y_true` 0/1 labels and `y_pred` float logits of one shape; `sample_weight` of that
    shape (optional). Returns a float32 scalar.
    """

    def __init__(self, name="weighted_binary_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return ops.binary_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred, from_logits=True)
