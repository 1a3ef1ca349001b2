"""Validation of token ids where they enter a layer or a model.

Why this exists: an out-of-range id is an error in eager TensorFlow, but inside an XLA-compiled
step (Keras compiles `fit`, `evaluate` and `predict` with XLA by default on GPUs and TPUs, and
with `jit_compile=True` anywhere) the embedding gather
clamps it to a valid row, and JAX's gather does the same or returns NaN. Either way the model
would train on garbage without a word. So ids are checked:

- statically, when a layer is called (dtype, rank, known length), by `check_token_ids`;
- at run time inside the layer wherever the backend can raise (eager or graph TensorFlow,
  eager JAX);
- at run time on every batch before it reaches a compiled step, by `validate_batch`, which the
  kerasnlm models apply to the data given to `fit`/`evaluate`/`predict` whatever its type
  (arrays, `tf.data`, Python generators, `keras.utils.PyDataset`: see `checked_feed`);
- inside compiled steps too, by `poison_out_of_range`: the embedding layers turn their output
  NaN when an id is out of range, so a model nobody checked (a user's own Functional model
  built from these layers, under XLA) gets a NaN loss, which `StopOnNonFiniteLoss` stops
  naming this cause, instead of training on clamped rows.
"""

import contextlib
import functools
import inspect
import re

import keras
import numpy as np
from keras import ops


def _runtime_kind(x):
    """How values of `x` can be checked here: "tf" (assert ops), "numpy" (now), or None."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if keras.backend.backend() == "jax":
        import jax

        if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
            return "numpy"
    import tensorflow as tf

    if isinstance(x, (tf.Tensor, tf.Variable)):
        return "tf"
    return None


def check_integer_dtype(token_ids, name="token_ids"):
    """Raises a TypeError unless `token_ids` has an integer dtype (floats are never cast)."""
    dtype = keras.backend.standardize_dtype(token_ids.dtype)
    if "int" not in dtype:
        raise TypeError(
            f"`{name}` must be an integer tensor of token ids; received dtype {dtype}. "
            "Token ids come from a tokenizer; cast them with `ops.cast(x, 'int32')` only if "
            "they are whole numbers."
        )


def check_token_ids(
    token_ids, vocabulary_size, sequence_length=None, name="token_ids",
    bound_name="the vocabulary size",
):
    """Raises a clear error for token ids a model cannot embed, and returns them.

    Use the returned tensor: in a TensorFlow graph it carries the run-time assertions, so the
    check runs before anything that consumes the ids.

    Args:
        token_ids: integer tensor of shape `(batch, length)`.
        vocabulary_size: valid ids are `0 <= id < vocabulary_size`.
        sequence_length: when given, `length` may not exceed it.
        name: the input's name, used in messages.
        bound_name: what `vocabulary_size` is, in messages (the same check serves positions).
    """
    check_integer_dtype(token_ids, name)
    shape = tuple(token_ids.shape)
    if len(shape) != 2:
        raise ValueError(f"`{name}` must have shape (batch, length); received shape {shape}.")
    if sequence_length is not None and shape[1] is not None and shape[1] > sequence_length:
        raise ValueError(
            f"`{name}` has length {shape[1]}, longer than the model's `sequence_length` "
            f"({sequence_length}). Truncate the inputs or build a model with a longer "
            "`sequence_length`."
        )
    kind = _runtime_kind(token_ids)
    if kind == "tf":
        return _assert_ids_tf(token_ids, vocabulary_size, sequence_length, name, bound_name)
    if kind == "numpy":
        _assert_ids_numpy(
            np.asarray(token_ids), vocabulary_size, sequence_length, name, bound_name
        )
    return token_ids


def check_labels(labels, num_classes, name="labels"):
    """Raises a clear error for class labels outside `[0, num_classes)`, and returns them.

    Sparse cross-entropy under XLA gives a silent, meaningless loss for such a label.
    """
    dtype = keras.backend.standardize_dtype(labels.dtype)
    if "int" not in dtype:
        raise TypeError(f"`{name}` must be integer class ids; received dtype {dtype}.")
    kind = _runtime_kind(labels)
    if kind == "tf":
        return _assert_ids_tf(labels, num_classes, None, name, "num_classes")
    if kind == "numpy":
        _assert_ids_numpy(np.asarray(labels), num_classes, None, name, "num_classes")
    return labels


def _assert_ids_numpy(ids, vocabulary_size, sequence_length, name, bound_name):
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
        bad = ids[(ids < 0) | (ids >= vocabulary_size)]
        raise ValueError(
            f"`{name}` holds values outside [0, {vocabulary_size}) ({bound_name}): "
            f"found {sorted(set(bad.tolist()))[:10]}."
        )
    if sequence_length is not None and ids.ndim == 2 and ids.shape[1] > sequence_length:
        raise ValueError(
            f"`{name}` has length {ids.shape[1]}, longer than the model's `sequence_length` "
            f"({sequence_length})."
        )


def _assert_ids_tf(ids, vocabulary_size, sequence_length, name, bound_name):
    """`ids` behind run-time assertions; they raise in eager and tf.function graphs (XLA
    compiles them to nothing, hence `validate_batch`)."""
    import tensorflow as tf

    assertions = [
        tf.debugging.assert_non_negative(
            ids, message=f"`{name}` holds negative values; valid values are in "
            f"[0, {vocabulary_size})."
        )
    ]
    assertions.append(tf.debugging.assert_less(
        ids,
        tf.cast(vocabulary_size, ids.dtype),
        message=f"`{name}` holds values >= {vocabulary_size} ({bound_name}).",
    ))
    if sequence_length is not None:
        assertions.append(tf.debugging.assert_less_equal(
            tf.shape(ids)[1],
            sequence_length,
            message=f"`{name}` is longer than the model's `sequence_length` ({sequence_length}).",
        ))
    with tf.control_dependencies([a for a in assertions if a is not None]):
        return tf.identity(ids)


def validate_batch(inputs, token_id_limits):
    """Checks every token-id input of one batch of model inputs, outside any compiled step.

    Args:
        inputs: a dict of named inputs (or a single tensor for a single token-id input).
        token_id_limits: dict `{input_name: (upper_bound, sequence_length, bound_name)}`
            naming the inputs that index a table (token ids: the vocabulary size). An
            `upper_bound` that is a string names another input whose length bounds this one
            (positions into `token_ids`).
    Returns:
        `inputs`, with the token ids behind their assertions in graph mode.
    """
    if not isinstance(inputs, dict):
        if len(token_id_limits) != 1:
            return inputs
        (name, limits), = token_id_limits.items()
        return check_token_ids(inputs, *limits[:2], name, *limits[2:])
    if any(isinstance(v, (list, tuple)) for v in inputs.values()):
        inputs = {
            k: np.asarray(v) if isinstance(v, (list, tuple)) else v for k, v in inputs.items()
        }
    inputs = dict(inputs)
    for name, (bound, *rest) in token_id_limits.items():
        if name in inputs:
            if isinstance(bound, str):  # positions into another input: bounded by its length
                bound = keras.ops.shape(inputs[bound])[1]
            inputs[name] = check_token_ids(inputs[name], bound, *rest[:1], name, *rest[1:])
    return inputs


def poison_out_of_range(values, ids, upper_bound):
    """`values`, or NaN everywhere if any of `ids` is outside `[0, upper_bound)`.

    The one check XLA keeps: its compile drops assertions, and its gather clamps a bad id to a
    valid row. An all-NaN output cannot pass unnoticed (the loss becomes NaN); its cost is one
    reduction over the ids and one scalar added to `values`.
    """
    bad = ops.any(ops.logical_or(ops.less(ids, 0), ops.greater_equal(ids, upper_bound)))
    return values + ops.cast(ops.where(bad, float("nan"), 0.0), values.dtype)


class BatchCheck:
    """Checks one batch `(inputs[, labels, ...])` of a data feed: the token ids of `inputs`
    against `token_id_limits` (see `validate_batch`), the labels against `num_classes` (when
    not None). A class, not a closure, so that a `PyDataset`'s worker processes can pickle it.
    """

    def __init__(self, token_id_limits, num_classes=None):
        self.token_id_limits = token_id_limits
        self.num_classes = num_classes

    def __call__(self, batch):
        if not isinstance(batch, tuple):
            return validate_batch(batch, self.token_id_limits)
        inputs, *rest = batch
        if self.num_classes is not None and rest and hasattr(rest[0], "dtype"):
            rest[0] = check_labels(rest[0], self.num_classes)
        return (validate_batch(inputs, self.token_id_limits), *rest)


class CheckedPyDataset(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` whose batches pass through `check` (a picklable callable)
    as they are read, in the dataset's own workers."""

    def __init__(self, dataset, check):
        super().__init__(
            workers=dataset.workers, use_multiprocessing=dataset.use_multiprocessing,
            max_queue_size=dataset.max_queue_size,
        )
        self.dataset = dataset
        self.check = check

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def __getitem__(self, index):
        return self.check(self.dataset[index])

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def _checked_generator(generator, check):
    for batch in generator:
        yield check(batch)


def checked_feed(x, y, check):
    """The data `x` (with labels `y` when given separately), behind `check` (a `BatchCheck`)
    on every batch before it reaches a step, whatever the kind of feed: arrays and tensors at
    once, a `tf.data.Dataset` in a `map`, a Python generator or a `PyDataset` as each batch is
    drawn. Returns the feed to pass on (the same kind as `x`)."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        spec_is_tuple = isinstance(x.element_spec, tuple)
        # Plain graph code: nothing for autograph to convert.
        return x.map(tf.autograph.experimental.do_not_convert(
            (lambda *batch: check(batch)) if spec_is_tuple else check
        ))
    if isinstance(x, keras.utils.PyDataset):
        return CheckedPyDataset(x, check)
    if inspect.isgenerator(x):
        return _checked_generator(x, check)
    if isinstance(x, dict) or hasattr(x, "dtype"):
        check((x, y) if y is not None else x)
    return x


@functools.cache
def _invalid_batch_error_type():
    import tensorflow as tf

    class InvalidBatchError(tf.errors.InvalidArgumentError, ValueError):
        """A batch of a `tf.data` feed failed an input check: the check's one sentence, where
        TensorFlow's "Graph execution error" buries it under the op's stack. Still an
        `InvalidArgumentError` (what TensorFlow raised), and a `ValueError` (what it is)."""

    return InvalidBatchError


# The sentence of one of this module's assertions inside TensorFlow's message.
_ASSERTION = re.compile(r"assertion failed: \[(`\w+` [^\]]*)\]")


@contextlib.contextmanager
def batch_errors_named():
    """Re-raises the failure of a batch check inside `fit`/`evaluate`/`predict` (a tf.data
    feed raises it from the step's graph) as one line naming the input and its bound."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = _ASSERTION.search(error.message or "")
        if found is None or isinstance(error, ValueError):
            raise
        message = f"A batch of the data: {found.group(1)}"
        raise _invalid_batch_error_type()(None, None, message) from error
