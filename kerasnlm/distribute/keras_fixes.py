"""Where Keras' `tf.distribute` support falls short, and the fixes kerasnlm carries for it.

Each fix overrides one piece of Keras or TensorFlow that has no public extension point. An
override of a private method goes quietly dead when a release renames it, and the bug it fixed
returns without a word; so on import `check_keras()` verifies that Keras and TensorFlow still
have exactly what each fix patches, and raises `ImportError` naming the fix when they do not.
`tests/distribute/test_keras_fixes.py` runs each check against a changed Keras, and the
strategy tests (`test_mirrored.py`, `test_multi_worker.py`) fail if a bug comes back.

The fixes, and the bug each guards against:

- `StrategyFixes._maybe_symbolic_build` (every kerasnlm model): Keras builds a model under a
  strategy from the *mean* of the replicas' first batches; `strategy.reduce("MEAN")` fails on
  bool masks ("AddN ... bool") and, with several workers, on any dict of inputs.
- `StrategyFixes.compute_metrics` (every kerasnlm model): with several workers Keras reduces a
  step's scalar logs with `strategy.reduce("MEAN", value, axis=0)`: "Invalid reduction
  dimension 0".
- `WeightedCrossEntropy.__call__` (the default loss of every task): Keras divides each
  replica's loss by that replica's sample weights, so replicas holding 300 and 100 real tokens
  train on a mean of means, not the global mean.
- `BackupAndRestore._save_model` (`kerasnlm.distribute.BackupAndRestore`): Keras has every
  worker write the same backup files, so the workers race on one file.
"""

import inspect

import keras
import tensorflow as tf


def patched_keras():
    """What each fix relies on: `(fix, owner, attribute, its parameters, a fragment of its
    source that shows the bug is still there, or None)`."""
    from keras.src.backend.tensorflow import trainer as tf_trainer
    from keras.src.losses import loss as loss_module
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective

    backup = keras.callbacks.BackupAndRestore
    return [
        ("StrategyFixes._maybe_symbolic_build", tf_trainer.TensorFlowTrainer,
         "_maybe_symbolic_build", ["self", "iterator", "data_batch"],
         'self.distribute_strategy.reduce('),
        ("StrategyFixes.compute_metrics", tf_trainer, "reduce_per_replica",
         ["values", "strategy", "reduction"], 'strategy.reduce("MEAN", v, axis=0)'),
        ("StrategyFixes.compute_metrics", collective.CollectiveAllReduceExtended,
         "_in_multi_worker_mode", ["self"], None),
        ("WeightedCrossEntropy.__call__", keras.losses.Loss, "__call__",
         ["self", "y_true", "y_pred", "sample_weight"], None),
        ("WeightedCrossEntropy.__call__", loss_module, "reduce_values",
         ["values", "sample_weight", "reduction"], "scale_loss_for_distribution(loss)"),
        ("BackupAndRestore._save_model", backup, "_save_model", ["self"], None),
        ("BackupAndRestore._save_model", backup, "__init__",
         ["self", "backup_dir", "save_freq", "double_checkpoint", "delete_checkpoint"],
         "self._prev_training_metadata_path"),
    ]


def check_keras(patched=None):
    """Raises `ImportError` unless Keras and TensorFlow have what every fix here patches."""
    for fix, owner, name, parameters, bug in patched or patched_keras():
        where = f"{getattr(owner, '__name__', owner)}.{name}"
        function = getattr(owner, name, None)
        problem = None
        if function is None:
            problem = f"{where} no longer exists"
        elif list(inspect.signature(function).parameters) != parameters:
            problem = f"{where} now takes {list(inspect.signature(function).parameters)}"
        elif bug is not None and bug not in inspect.getsource(function):
            problem = f"{where} no longer contains `{bug.split()[0]}...` (the bug may be fixed)"
        if problem:
            raise ImportError(
                f"kerasnlm's fix {fix} patches Keras {keras.__version__} / TensorFlow "
                f"{tf.__version__}, but {problem}. Install the versions setup.cfg pins, or "
                "revisit the fix (see kerasnlm/distribute/keras_fixes.py)."
            )


check_keras()


class StrategyFixes:
    """Mixed into `kerasnlm.models.Model`: the two fixes a Keras model needs under a strategy."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Only the batch's shapes and dtypes are used to build: one replica's batch has them.
        strategy = getattr(self, "_distribute_strategy", None)  # TensorFlow only
        if strategy is not None and iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        strategy = getattr(self, "_distribute_strategy", None)  # TensorFlow only
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
            strategy.extended._in_multi_worker_mode()
        ):
            # A length-1 vector reduces over axis 0 to the scalar the logs expect.
            logs = {name: keras.ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs
