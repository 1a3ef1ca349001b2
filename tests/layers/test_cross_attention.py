import keras
import numpy as np
import pytest
from helpers import copy_into_keras
from helpers import run_layer_test

from kerasnlm.layers import CrossAttention

RNG = np.random.default_rng(2)
QUERIES = RNG.normal(size=(2, 4, 12)).astype("float32")
CONTEXT = RNG.normal(size=(2, 7, 8)).astype("float32")
CONTEXT_MASK = np.array([[1] * 7, [1] * 3 + [0] * 4], "int32")


def test_layer_contract(tmp_path):
    run_layer_test(
        CrossAttention,
        dict(num_heads=3),
        {"inputs": QUERIES, "context": CONTEXT, "context_mask": CONTEXT_MASK},
        expected_output_shape=(2, 4, 12),
        tmp_path=tmp_path,
    )


def test_matches_keras_multi_head_attention_with_a_context_mask():
    ours = CrossAttention(num_heads=3)
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
    ours(QUERIES, CONTEXT)
    theirs(QUERIES, CONTEXT)
    copy_into_keras(ours, theirs)
    mask = np.broadcast_to(CONTEXT_MASK.astype(bool)[:, None, :], (2, 4, 7))
    expected, expected_weights = theirs(
        QUERIES, CONTEXT, attention_mask=mask, return_attention_scores=True
    )
    actual, weights = ours(
        QUERIES, CONTEXT, context_mask=CONTEXT_MASK, return_attention_scores=True
    )
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)
    assert np.all(keras.ops.convert_to_numpy(weights)[1, :, :, 3:] == 0)  # padding unseen


def test_context_cache_gives_the_same_outputs():
    attention = CrossAttention(num_heads=3)
    direct = attention(QUERIES, CONTEXT, context_mask=CONTEXT_MASK)
    cache = attention.context_cache(CONTEXT)
    assert tuple(cache.shape) == (2, 2, 3, 7, 4)
    cached = attention(QUERIES, context_mask=CONTEXT_MASK, cache=cache)
    np.testing.assert_allclose(cached, direct, atol=1e-6)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="`num_heads` must be a positive integer; received 0"):
        CrossAttention(num_heads=0)
    with pytest.raises(ValueError, match="`dropout` must be in"):
        CrossAttention(num_heads=2, dropout=1.0)
    with pytest.raises(
        ValueError, match=r"hidden size \(12\) must be divisible by `num_heads` \(5\)"
    ):
        CrossAttention(num_heads=5)(QUERIES, CONTEXT)
    attention = CrossAttention(num_heads=3)
    attention(QUERIES, CONTEXT)
    with pytest.raises(ValueError, match="needs `context` or its `cache`"):
        attention(QUERIES)
