"""Out-of-range token ids and labels never train silently, whatever the input route and
whoever built the model (issue 20, class 1). Under XLA (`jit_compile=True`, Keras' default on
GPUs) assertions compile to nothing and a gather clamps a bad id to a valid row."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm

VOCABULARY, LENGTH, CLASSES = 50, 8, 2


def batches(token_ids=None, labels=None, count=2):
    """`count` batches of 4 examples of valid data, the last one with `token_ids`/`labels`."""
    rng = np.random.default_rng(0)
    result = []
    for i in range(count):
        ids = rng.integers(5, VOCABULARY, size=(4, LENGTH)).astype("int32")
        y = np.array([0, 1, 0, 1], "int32")
        if i == count - 1:
            ids = ids if token_ids is None else token_ids
            y = y if labels is None else labels
        result.append(({"token_ids": ids, "padding_mask": np.ones_like(ids)}, y))
    return result


class Batches(keras.utils.PyDataset):
    def __init__(self, items):
        super().__init__()
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def dataset(items):
    inputs = {name: tf.TensorSpec((None, LENGTH), tf.int32) for name in items[0][0]}
    labels = (tf.TensorSpec((None,), tf.int32),) if len(items[0]) == 2 else ()
    return tf.data.Dataset.from_generator(
        lambda: iter(items), output_signature=(inputs, *labels)
    )


ROUTES = {
    "generator": lambda items: (item for item in items),
    "PyDataset": Batches,
}

BAD = {
    "id = vocabulary size": dict(token_ids=np.full((4, LENGTH), VOCABULARY, "int32")),
    "negative id": dict(token_ids=np.full((4, LENGTH), -3, "int32")),
    "label 7 of 2 classes": dict(labels=np.array([0, 7, 1, 0], "int32")),
    "negative label": dict(labels=np.array([0, -1, 1, 0], "int32")),
}
# Arrays are checked in numpy (the values found are named); a tf.data batch in the graph.
MESSAGES = {
    "id = vocabulary size": r"`token_ids` holds values (outside \[0, 50\).*\[50\]|>= 50)",
    "negative id": r"`token_ids` holds (values outside \[0, 50\).*\[-3\]|negative values)",
    "label 7 of 2 classes": r"`labels` holds values (outside \[0, 2\).*\[7\]|>= 2)",
    "negative label": r"`labels` holds (values outside \[0, 2\).*\[-1\]|negative values)",
}


def classifier():
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=VOCABULARY, sequence_length=LENGTH, num_layers=1, num_heads=2,
        hidden_dim=16, intermediate_dim=32,
    )
    model = knlm.models.SequenceClassifier(backbone, num_classes=CLASSES)
    model.compile(learning_rate=1e-3, jit_compile=True)
    return model


def test_a_tf_data_batch_that_fails_its_check_is_one_line():
    # In the graph of the step, where TensorFlow's error buries the check's sentence under a
    # stack of ops. (One model for all the problems: XLA compiles its step once.)
    model = classifier()
    for problem in BAD:
        with pytest.raises(ValueError, match=MESSAGES[problem]) as raised:
            model.fit(dataset(batches(**BAD[problem], count=1)), epochs=1, verbose=0)
        assert str(raised.value).startswith("A batch of the data: `")
        assert "\n" not in str(raised.value)
    assert model.optimizer.iterations.numpy() == 0


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("problem", BAD)
def test_kerasnlm_models_check_generators_and_py_datasets(route, problem):
    model = classifier()
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match=MESSAGES[problem]) as raised:
        model.fit(ROUTES[route](batches(**BAD[problem])), epochs=1, verbose=0)
    assert "\n" not in str(raised.value)  # one line, not TensorFlow's graph trace
    # The first (good) batch may have trained; the bad one never reached a step.
    assert model.optimizer.iterations.numpy() <= 1
    if model.optimizer.iterations.numpy() == 0:
        for old, new in zip(before, model.weights):
            np.testing.assert_array_equal(old, new.numpy())
    with pytest.raises(ValueError, match=MESSAGES[problem]):
        model.evaluate(ROUTES[route](batches(**BAD[problem])), verbose=0)


def test_good_generators_and_py_datasets_still_train():
    model = classifier()  # one model for both routes: XLA compiles its step once
    for steps, route in enumerate(ROUTES.values(), start=1):
        history = model.fit(route(batches(count=3)), epochs=1, verbose=0)
        assert model.optimizer.iterations.numpy() == 3 * steps
        assert np.isfinite(history.history["loss"][0])
        predictions = model.predict(route([(x,) for x, _ in batches(count=2)]), verbose=0)
        assert predictions.shape == (8, CLASSES) and np.all(np.isfinite(predictions))


def users_functional_model():
    """The design card's main use: a model assembled from the package's layers, with a
    Keras head, compiled by the user with XLA. Nothing of kerasnlm sees its data."""
    token_ids = keras.Input((LENGTH,), dtype="int32")
    x = knlm.layers.TokenAndPositionEmbedding(VOCABULARY, LENGTH, 16)(token_ids)
    x = knlm.layers.TransformerEncoder(num_heads=2, intermediate_dim=32)(x)
    outputs = keras.layers.Dense(CLASSES)(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(token_ids, outputs)
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    return model


def test_a_users_xla_model_stops_on_a_bad_id_instead_of_training_on_a_clamped_row():
    # (The other bad ids are covered on the layer, below: compiling a model costs seconds.)
    ids = np.full((4, LENGTH), 7, "int32")
    ids[2, 3] = VOCABULARY

    def feed():
        yield ids, np.array([0, 1, 0, 1])
        yield ids, np.array([0, 1, 0, 1])

    model = users_functional_model()
    message = "step 1: the loss is nan.*token ids outside the vocabulary"
    with pytest.raises(knlm.training.NonFiniteLossError, match=message):
        model.fit(feed(), epochs=1, verbose=0, callbacks=[knlm.training.StopOnNonFiniteLoss()])


def test_the_embedding_turns_nan_inside_xla_and_stays_exact_otherwise():
    layer = knlm.layers.TokenAndPositionEmbedding(VOCABULARY, LENGTH, 16)
    compiled = tf.function(layer, jit_compile=True)
    good = np.array([[5, 9, 2, 0]], "int32")
    np.testing.assert_array_equal(compiled(good), layer(good))
    assert np.all(np.isfinite(compiled(good)))
    for bad in ([[5, 9, 50, 0]], [[5, -2, 2, 0]], [[49, 10**6, 0, 0]]):
        assert np.all(np.isnan(compiled(np.array(bad, "int32"))))
        # Eager: an error naming the input and the bound.
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"`token_ids` holds (ne|.*50)"):
            layer(np.array(bad, "int32"))
