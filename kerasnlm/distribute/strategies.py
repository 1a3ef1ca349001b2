"""Choosing a `tf.distribute` strategy, and the per-worker facts training code needs from it.

TensorFlow's engine does the distributing: `get_strategy` only picks the strategy that fits the
machine (or the one asked for), and keeps it, so every later call in the process gets the same
object. That matters twice over: two `MirroredStrategy` objects in one process can hand out
clashing collective-op keys (an all-reduce then fails with "Shape mismatch in the collective
instance"), and a `MultiWorkerMirroredStrategy` must exist before TensorFlow runs its first op.
"""

import glob
import json
import logging
import os
import shutil
import tempfile

import tensorflow as tf

logger = logging.getLogger("kerasnlm")

KINDS = ("auto", "tpu", "multi_worker", "mirrored", "one_device", "default")
_strategies = {}


def _in_cluster():
    """True when TF_CONFIG describes a cluster of two or more tasks."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster") or {}
    return sum(len(tasks) for tasks in cluster.values()) > 1


def _tpu_resolver(required):
    # The resolver asks the cloud metadata server when it has no address; only ask when a TPU
    # is plausibly there (named, or a TPU VM's device files), or when one is demanded.
    if not required and not (os.environ.get("TPU_NAME") or glob.glob("/dev/accel*")):
        return None
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=os.environ.get("TPU_NAME", "")
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        if required:
            raise RuntimeError(f"kind='tpu' was asked for, but no TPU answered: {error}") from error
        return None


def _create(kind):
    # Physical, not logical, devices: listing logical ones starts TensorFlow's runtime, after
    # which a multi-worker strategy can no longer configure its collective ops.
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "auto":
        resolver = _tpu_resolver(required=False)
        if resolver is not None:
            return tf.distribute.TPUStrategy(resolver)
        # A cluster comes before local GPUs: each worker mirrors over its own GPUs as well.
        if _in_cluster():
            kind = "multi_worker"
        elif len(gpus) > 1:
            kind = "mirrored"
        elif len(gpus) == 1:
            kind = "one_device"
        else:
            kind = "default"
    if kind == "tpu":
        return tf.distribute.TPUStrategy(_tpu_resolver(required=True))
    if kind == "multi_worker":
        if not _in_cluster():
            raise ValueError(
                "kind='multi_worker' needs TF_CONFIG to describe a cluster of two or more tasks; "
                f"TF_CONFIG is {os.environ.get('TF_CONFIG')!r}."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        # All local GPUs; without GPUs, all logical CPU devices (several only when configured
        # with `tf.config.set_logical_device_configuration`, as tests of GPU paths do).
        devices = tf.config.list_logical_devices("GPU" if gpus else "CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if kind == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def get_strategy(kind="auto"):
    """The `tf.distribute.Strategy` to build and train under, created once per process.

    `"auto"` picks, in order: `TPUStrategy` when a TPU answers; `MultiWorkerMirroredStrategy`
    when `TF_CONFIG` describes a cluster (each worker also mirrors over its local GPUs);
    `MirroredStrategy` over all local GPUs when there are several (forced without GPUs, over
    the logical CPU devices); `OneDeviceStrategy` on one
    GPU; otherwise TensorFlow's default strategy (the CPU). The choice is logged on the
    `"kerasnlm"` logger.

    Call it at the start of the program, before TensorFlow runs anything: a multi-worker
    strategy cannot be set up later. Build and compile inside `strategy.scope()`; `fit` then
    splits each global batch across the replicas and all-reduces the gradients.

    Args:
        kind: `"auto"`, or one of `"tpu"`, `"multi_worker"`, `"mirrored"`, `"one_device"`,
            `"default"` to force that strategy.

    Example:
    ```python
    import kerasnlm as knlm

    strategy = knlm.distribute.get_strategy()
    with strategy.scope():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=100, sequence_length=16, num_layers=1, num_heads=2,
            hidden_dim=16, intermediate_dim=32)
        classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
        classifier.compile()
    ```
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; received {kind!r}.")
    if kind not in _strategies:
        strategy = _create(kind)
        logger.info("kerasnlm.distribute: %s", describe(strategy))
        _strategies[kind] = strategy
    return _strategies[kind]


def _current():
    """The strategy in scope; outside any scope, the one `get_strategy` made (callbacks and
    file writes run outside the scope)."""
    if tf.distribute.has_strategy() or not _strategies:
        return tf.distribute.get_strategy()
    return list(_strategies.values())[-1]


def describe(strategy=None):
    """One line saying which strategy runs, over how many replicas, and this worker's role."""
    strategy = strategy or _current()
    text = f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        text += f", worker {resolver.task_type}:{resolver.task_id}"
        text += " (chief)" if is_chief(strategy) else ""
    return text


def is_chief(strategy=None):
    """True on the one worker that writes checkpoints, logs and exports (always, on one machine)."""
    strategy = strategy or _current()
    return bool(strategy.extended.should_checkpoint)


def worker_path(path, strategy=None):
    """Where this worker writes `path`: `path` itself on the chief; on any other worker a path
    in a private temporary directory (see `remove_worker_files`).

    Every worker still performs every save, so a save that reads distributed variables runs
    the same collective ops on all of them; only the chief's copy lands where the user looks.
    """
    if is_chief(strategy):
        return path
    return os.path.join(_private_root(strategy), os.path.abspath(path).lstrip(os.sep))


def _private_root(strategy):
    resolver = (strategy or _current()).cluster_resolver
    return os.path.join(
        tempfile.gettempdir(), f"kerasnlm-{resolver.task_type}-{resolver.task_id}-{os.getpid()}"
    )


def remove_worker_files(strategy=None):
    """Deletes what `worker_path` gave a non-chief worker to write (nothing on the chief)."""
    if not is_chief(strategy):
        shutil.rmtree(_private_root(strategy), ignore_errors=True)
