import keras
import numpy as np
import pytest
from helpers import run_layer_test

from kerasnlm.layers import MultiHeadAttention
from kerasnlm.layers.multi_head_attention import alibi_bias
from kerasnlm.layers.multi_head_attention import merge_attention_masks

INPUTS = np.random.default_rng(1).normal(size=(2, 5, 12)).astype("float32")


@pytest.mark.parametrize("position_bias", [None, "alibi"])
def test_layer_contract(position_bias, tmp_path):
    run_layer_test(
        MultiHeadAttention,
        dict(num_heads=3, position_bias=position_bias),
        {"inputs": INPUTS},
        expected_output_shape=(2, 5, 12),
        tmp_path=tmp_path,
    )


def test_matches_keras_multi_head_attention():
    ours = MultiHeadAttention(num_heads=3)
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
    ours(INPUTS)
    theirs(INPUTS, INPUTS)
    kernel = keras.ops.convert_to_numpy(ours.query_key_value.kernel)
    bias = keras.ops.convert_to_numpy(ours.query_key_value.bias)
    for i, dense in enumerate([theirs._query_dense, theirs._key_dense, theirs._value_dense]):
        dense.kernel.assign(kernel[:, 12 * i : 12 * (i + 1)].reshape(12, 3, 4))
        dense.bias.assign(bias[12 * i : 12 * (i + 1)].reshape(3, 4))
    theirs._output_dense.kernel.assign(
        keras.ops.convert_to_numpy(ours.output_projection.kernel).reshape(3, 4, 12)
    )
    theirs._output_dense.bias.assign(ours.output_projection.bias)
    mask = np.tril(np.ones((2, 5, 5), bool))
    expected, expected_weights = theirs(
        INPUTS, INPUTS, attention_mask=mask, return_attention_scores=True
    )
    actual, weights = ours(INPUTS, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)


def test_alibi_weights_are_the_softmax_of_scores_minus_slope_times_distance():
    attention = MultiHeadAttention(num_heads=4, position_bias="alibi")
    x = INPUTS[:, :, :8]
    mask = np.tril(np.ones((2, 5, 5), bool))
    _, weights = attention(x, attention_mask=mask, return_attention_scores=True)
    plain = MultiHeadAttention(num_heads=4)
    plain(x)
    plain.set_weights(attention.get_weights())
    # Scores before the bias, recovered from the unbiased layer's weights (per row, up to a
    # constant, which softmax ignores): log(softmax(s)) = s - logsumexp(s).
    _, plain_weights = plain(x, return_attention_scores=True)
    scores = np.log(np.asarray(plain_weights))
    distance = np.abs(np.arange(5)[:, None] - np.arange(5)[None, :])
    slopes = np.array([1 / 4, 1 / 16, 1 / 64, 1 / 256])
    biased = np.where(mask[:, None], scores - slopes[:, None, None] * distance, -np.inf)
    expected = np.exp(biased - biased.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    # Head 0 (slope 1/4) looks nearer than head 3 (slope 1/256): mean attended distance.
    mean_distance = (np.asarray(weights) * distance).sum(-1).mean(axis=(0, 2))
    assert mean_distance[0] < mean_distance[3]


def test_alibi_bias_at_given_query_positions():
    bias = keras.ops.convert_to_numpy(alibi_bias(2, np.array([[0, 3], [2, 2]]), 4))
    assert bias.shape == (2, 2, 2, 4)
    # Two heads: slopes 2 ** -4 and 2 ** -8.
    np.testing.assert_allclose(bias[0, 0, 1], np.array([-3, -2, -1, 0]) / 16)
    np.testing.assert_allclose(bias[1, 1, 0], np.array([-2, -1, 0, -1]) / 256)


def test_fully_masked_rows_stay_finite():
    attention = MultiHeadAttention(num_heads=2)
    outputs = attention(INPUTS, attention_mask=np.zeros((2, 5, 5), bool))
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))


def test_merge_attention_masks():
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    merged = keras.ops.convert_to_numpy(
        merge_attention_masks(INPUTS, padding_mask=padding, use_causal_mask=True)
    )
    expected = np.tril(np.ones((5, 5), bool))[None] & padding.astype(bool)[:, None, :]
    np.testing.assert_array_equal(np.broadcast_to(merged, (2, 5, 5)), expected)
    assert merge_attention_masks(INPUTS) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(num_heads=0)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(num_heads=2, dropout=-0.1)
    with pytest.raises(ValueError, match="`position_bias` must be one of"):
        MultiHeadAttention(num_heads=2, position_bias="rope")
    with pytest.raises(
        ValueError, match=r"hidden size \(12\) must be divisible by `num_heads` \(5\)"
    ):
        MultiHeadAttention(num_heads=5)(INPUTS)
