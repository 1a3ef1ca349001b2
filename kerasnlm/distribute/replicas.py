"""What a replica of a `tf.distribute` step needs to know about the others.

Under a TensorFlow strategy each replica runs the training step on its own slice of the global
batch. Two things then go wrong unless the model asks: a loss averaged over the replica's own
tokens is not the average over the global batch (replicas hold different numbers of real
tokens), and every replica draws the same random numbers (its seed state is mirrored). On one
device, and on JAX (whose data parallelism runs one program over the global batch), both
functions below change nothing.
"""

import keras


def _replica_context():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def sum_over_replicas(value):
    """`value` summed over the replicas in sync (no gradient flows through the sum)."""
    context = _replica_context()
    if context is None:
        return value
    import tensorflow as tf

    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(value))


def replica_id():
    """This replica's index among all replicas (across workers), or 0 outside a strategy."""
    context = _replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


class ReplicaSeed(keras.random.SeedGenerator):
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
