import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_layer_test

from kerasnlm.layers import TokenAndPositionEmbedding
from kerasnlm.layers.token_and_position_embedding import sinusoidal_position_table

TOKEN_IDS = np.array([[5, 9, 2, 7, 0, 0], [1, 2, 3, 4, 5, 6]], dtype="int32")


@pytest.mark.parametrize("position_encoding", ["learned", "sinusoidal"])
def test_layer_contract(position_encoding, tmp_path):
    run_layer_test(
        TokenAndPositionEmbedding,
        dict(
            vocabulary_size=20,
            sequence_length=8,
            embedding_dim=16,
            position_encoding=position_encoding,
        ),
        {"inputs": TOKEN_IDS},
        expected_output_shape=(2, 6, 16),
        tmp_path=tmp_path,
    )


def test_learned_matches_keras_hub():
    ours = TokenAndPositionEmbedding(50, 10, 8)
    theirs = keras_hub.layers.TokenAndPositionEmbedding(50, 10, 8)
    ours(TOKEN_IDS)
    theirs(TOKEN_IDS)
    theirs.token_embedding.embeddings.assign(ours.token_embedding.embeddings)
    theirs.position_embedding.position_embeddings.assign(ours.position_embeddings)
    np.testing.assert_allclose(ours(TOKEN_IDS), theirs(TOKEN_IDS), atol=1e-5)


def test_sinusoidal_matches_keras_hub():
    ours = TokenAndPositionEmbedding(50, 10, 8, position_encoding="sinusoidal")
    tokens = ours.token_embedding(TOKEN_IDS)
    theirs = tokens + keras_hub.layers.SinePositionEncoding()(tokens)
    np.testing.assert_allclose(ours(TOKEN_IDS), theirs, atol=1e-5)


def test_sinusoidal_table_is_the_closed_form_and_not_trainable():
    length, dim = 12, 10
    table = sinusoidal_position_table(length, dim)
    for pos in range(length):
        for i in range(dim // 2):
            angle = pos / 10000 ** (2 * i / dim)
            assert table[pos, 2 * i] == pytest.approx(np.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-6)

    layer = TokenAndPositionEmbedding(30, length, dim, position_encoding="sinusoidal")
    layer(TOKEN_IDS)
    # The only weight is the token matrix: positions are a constant.
    assert [w.path for w in layer.weights] == [layer.token_embedding.embeddings.path]
    token_vectors = keras.ops.convert_to_numpy(layer.token_embedding(TOKEN_IDS))
    np.testing.assert_allclose(
        layer(TOKEN_IDS) - token_vectors, np.stack([table[:6]] * 2), atol=1e-6
    )


def test_start_index_shifts_positions():
    layer = TokenAndPositionEmbedding(30, 10, 4)
    full = layer(np.array([[3, 4, 5, 6]]))
    last = layer(np.array([[6]]), start_index=3)
    np.testing.assert_allclose(last[0, 0], full[0, 3], atol=1e-6)


def test_mask_marks_padding():
    layer = TokenAndPositionEmbedding(20, 8, 4)
    np.testing.assert_array_equal(layer.compute_mask(TOKEN_IDS), TOKEN_IDS != 0)
    assert layer(TOKEN_IDS)._keras_mask is not None
    assert TokenAndPositionEmbedding(20, 8, 4, mask_zero=False).compute_mask(TOKEN_IDS) is None


def test_token_embedding_is_the_tying_matrix():
    layer = TokenAndPositionEmbedding(20, 8, 4)
    assert tuple(layer.token_embedding.embeddings.shape) == (20, 4)
    layer(TOKEN_IDS)
    assert sum(w is layer.token_embedding.embeddings for w in layer.trainable_weights) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocabulary_size=0, sequence_length=8, embedding_dim=4), "vocabulary_size"),
        (dict(vocabulary_size=10, sequence_length=-1, embedding_dim=4), "sequence_length"),
        (dict(vocabulary_size=10, sequence_length=8, embedding_dim=2.5), "embedding_dim"),
        (
            dict(vocabulary_size=10, sequence_length=8, embedding_dim=4, position_encoding="rope"),
            "position_encoding",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenAndPositionEmbedding(**kwargs)


def test_bad_inputs():
    layer = TokenAndPositionEmbedding(10, 4, 8)
    with pytest.raises(TypeError, match="integer"):
        layer(np.array([[1.0, 2.0]], dtype="float32"))
    with pytest.raises(ValueError, match="longer than the model's `sequence_length` \\(4\\)"):
        layer(np.ones((1, 5), dtype="int32"))
    with pytest.raises(ValueError, match="shape \\(batch, length\\)"):
        layer(np.ones((5,), dtype="int32"))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"`token_ids` holds values >= 10 \(the vocabulary size\)",
    ):
        layer(np.array([[1, 10]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`token_ids` holds negative values"):
        layer(np.array([[1, -1]]))


def test_out_of_range_ids_raise_inside_tf_function():
    layer = TokenAndPositionEmbedding(10, 4, 8)
    step = tf.function(lambda ids: layer(ids))
    step(tf.constant([[1, 2]]))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"`token_ids` holds values >= 10 \(the vocabulary size\)",
    ):
        step(tf.constant([[1, 12]]))


def test_numpy_integer_sizes_are_python_ints():
    layer = TokenAndPositionEmbedding(np.int64(20), np.int32(8), np.int64(4))
    config = layer.get_config()
    assert [type(config[k]) for k in ("vocabulary_size", "sequence_length", "embedding_dim")] == [
        int
    ] * 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocabulary_size=True), "`vocabulary_size` must be a positive integer"),
        (dict(max_wavelength=0), "`max_wavelength` must be a positive number; received 0"),
    ],
)
def test_bad_arguments_messages(kwargs, message):
    arguments = {**dict(vocabulary_size=10, sequence_length=8, embedding_dim=4), **kwargs}
    with pytest.raises(ValueError, match=message):
        TokenAndPositionEmbedding(**arguments)
