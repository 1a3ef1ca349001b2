import keras
import numpy as np
import tensorflow as tf

from kerasnlm.distribute.keras_fixes import StrategyFixes
from kerasnlm.utils.checks import BatchCheck
from kerasnlm.utils.checks import batch_errors_named
from kerasnlm.utils.checks import checked_feed
from kerasnlm.utils.checks import validate_batch


class Model(StrategyFixes, keras.Model):
    """The base of every kerasnlm model: a Keras model whose data is checked on the way in.

    `fit`, `evaluate` and `predict` may run XLA-compiled steps (Keras' default on GPUs and
    TPUs, and `jit_compile=True` anywhere), where an out-of-range token id is silently clamped
    to a valid embedding row. So before the data reaches a compiled step, every token-id input
    (named by `token_id_limits()`) is checked: numpy inputs at once, a `tf.data.Dataset`, a
    Python generator or a `keras.utils.PyDataset` batch by batch as it is drawn (see
    `kerasnlm.utils.checks.checked_feed`). Class labels are checked the same way when
    `label_limit()` says how many classes there are.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "segment_ids" in self._input_names():
            # Segment ids may be left out (see `_with_segment_ids`): Keras checks a call's
            # inputs against `input_spec` before `call` can fill them in, so they are not in it.
            self.input_spec = [spec for spec in self.input_spec if spec.name != "segment_ids"]

    def _with_segment_ids(self, inputs):
        # Segment ids are optional wherever they go: left out, a model with segment embeddings
        # reads segment 0 everywhere (one text, as BERT does); given to a model whose backbone
        # has no segment embeddings (text pairs from `classification_dataset`), they have
        # nothing to index and are dropped: the [SEP] between the texts marks the boundary.
        if isinstance(inputs, dict) and "token_ids" in inputs:
            takes_segments = "segment_ids" in self._input_names()
            if takes_segments and inputs.get("segment_ids") is None:
                token_ids = inputs["token_ids"]
                zeros = np.zeros_like if isinstance(token_ids, np.ndarray) else keras.ops.zeros_like
                inputs = {**inputs, "segment_ids": zeros(token_ids)}
            elif not takes_segments and "segment_ids" in inputs:
                inputs = {k: v for k, v in inputs.items() if k != "segment_ids"}
        return inputs

    def _input_names(self):
        return set(self.input) if isinstance(self.input, dict) else set()

    def token_id_limits(self):
        """`{input_name: (upper_bound, sequence_length[, bound_name])}` for each input that
        indexes a table (see `kerasnlm.utils.checks.validate_batch`)."""
        raise NotImplementedError

    def call(self, inputs, training=None, mask=None):
        # `training` is named here, not left in **kwargs: Keras passes it (and so turns dropout
        # on in `fit`) only to a `call` whose signature names it.
        inputs = self._with_segment_ids(inputs)
        # A Functional model casts inputs to the dtype of its `keras.Input`s: float ids would
        # be truncated to integers without a word, so refuse them before that happens, and
        # check every id input's range (the segment ids' embedding sits inside the graph, where
        # a bad id would only give a bare gather error). Only for concrete values: data for
        # fit/evaluate/predict was checked by `_checked` already, and inside a traced graph
        # Keras itself may probe the model with float placeholders (its symbolic build under a
        # tf.distribute strategy cannot see the dtypes of per-replica batches).
        if keras.backend.backend() == "tensorflow" and not tf.executing_eagerly():
            return super().call(inputs, training=training, mask=mask)
        if isinstance(inputs, dict):
            inputs = validate_batch(inputs, self.token_id_limits())
        return super().call(inputs, training=training, mask=mask)

    def label_limit(self):
        """The number of classes, for models whose labels are class ids; else None."""
        return None

    def _checked(self, x, y=None):
        return checked_feed(x, y, BatchCheck(self.token_id_limits(), self.label_limit()))

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(validation_data, (tuple, list)) and validation_data:
            validation_data = (self._checked(*validation_data[:2]), *validation_data[1:])
        elif validation_data is not None:
            validation_data = self._checked(validation_data)
        with batch_errors_named():
            return super().fit(
                self._checked(x, y), y, *args, validation_data=validation_data, **kwargs
            )

    def evaluate(self, x=None, y=None, *args, **kwargs):
        with batch_errors_named():
            return super().evaluate(self._checked(x, y), y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with batch_errors_named():
            return super().predict(self._checked(x), *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        with batch_errors_named():
            return super().train_on_batch(self._checked(x, y), y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        with batch_errors_named():
            return super().test_on_batch(self._checked(x, y), y, *args, **kwargs)

    def predict_on_batch(self, x):
        with batch_errors_named():
            return super().predict_on_batch(self._checked(x))
