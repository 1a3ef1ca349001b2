import keras
import keras_hub
import numpy as np
import pytest
from helpers import copy_into_keras_hub
from helpers import run_layer_test

from kerasnlm.layers import TokenAndPositionEmbedding
from kerasnlm.layers import TransformerEncoder

RNG = np.random.default_rng(0)
INPUTS = RNG.normal(size=(2, 6, 16)).astype("float32")
PADDING_MASK = np.array([[1, 1, 1, 1, 0, 0], [1] * 6], dtype="int32")


@pytest.mark.parametrize(
    "options", [dict(normalize_first=False), dict(normalize_first=True, position_bias="alibi")]
)
def test_layer_contract(options, tmp_path):
    run_layer_test(
        TransformerEncoder,
        dict(num_heads=4, intermediate_dim=32, **options),
        {"inputs": INPUTS, "padding_mask": PADDING_MASK},
        expected_output_shape=(2, 6, 16),
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_keras_hub(normalize_first, activation):
    ours = TransformerEncoder(
        num_heads=4, intermediate_dim=32, activation=activation, normalize_first=normalize_first
    )
    theirs = keras_hub.layers.TransformerEncoder(
        intermediate_dim=32, num_heads=4, activation=activation, normalize_first=normalize_first
    )
    ours(INPUTS)
    theirs(INPUTS)
    copy_into_keras_hub(ours, theirs)
    expected = keras.ops.convert_to_numpy(theirs(INPUTS, padding_mask=PADDING_MASK))
    actual = keras.ops.convert_to_numpy(ours(INPUTS, padding_mask=PADDING_MASK))
    real = PADDING_MASK.astype(bool)
    np.testing.assert_allclose(actual[real], expected[real], atol=1e-5)


@pytest.mark.parametrize(
    "options", [dict(normalize_first=False), dict(normalize_first=True, position_bias="alibi")]
)
@pytest.mark.parametrize(
    "masks",
    [
        dict(padding_mask=PADDING_MASK),
        dict(padding_mask=PADDING_MASK, use_causal_mask=True),
        dict(attention_mask=RNG.random((2, 6, 6)) > 0.3),
    ],
    ids=["padding", "padding_and_causal", "attention_mask"],
)
def test_query_positions_give_those_rows_of_the_full_output(options, masks):
    encoder = TransformerEncoder(num_heads=4, intermediate_dim=32, **options)
    positions = np.array([[3, 0, 3], [5, 1, 2]])
    full, full_weights = encoder(INPUTS, return_attention_scores=True, **masks)
    rows, weights = encoder(
        INPUTS, return_attention_scores=True, query_positions=positions, **masks
    )
    assert rows.shape == (2, 3, 16) and weights.shape == (2, 4, 3, 6)
    np.testing.assert_allclose(
        rows, np.take_along_axis(np.asarray(full), positions[:, :, None], axis=1), atol=1e-5
    )
    np.testing.assert_allclose(
        weights, np.take_along_axis(np.asarray(full_weights), positions[:, None, :, None], 2),
        atol=1e-6,
    )


def test_query_positions_drop_the_inputs_keras_mask():
    # The input's padding mask describes its positions, not the picked ones: passing it on
    # would make a loss weight (batch, 3) outputs with a (batch, 7) mask.
    embedding = TokenAndPositionEmbedding(30, 10, 16)
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32)
    x = embedding(np.array([[4, 8, 15, 16, 0, 0, 0]]))
    assert getattr(encoder(x), "_keras_mask", None) is not None
    assert getattr(encoder(x, query_positions=np.array([[0, 2, 3]])), "_keras_mask", None) is None
    assert getattr(encoder(x), "_keras_mask", None) is not None


def test_padding_does_not_change_real_positions():
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32)
    short = encoder(INPUTS[:, :4], padding_mask=np.ones((2, 4)))
    padded_inputs = np.concatenate([INPUTS[:, :4], RNG.normal(size=(2, 3, 16))], axis=1)
    padded_mask = np.concatenate([np.ones((2, 4)), np.zeros((2, 3))], axis=1)
    padded = encoder(padded_inputs.astype("float32"), padding_mask=padded_mask)
    np.testing.assert_allclose(padded[:, :4], short, atol=1e-5)


def test_keras_mask_from_embedding_is_used():
    embedding = TokenAndPositionEmbedding(30, 10, 16)
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32)
    token_ids = np.array([[4, 8, 15, 16, 0, 0, 0]])
    implicit = encoder(embedding(token_ids))
    explicit = encoder(embedding(token_ids), padding_mask=token_ids != 0)
    unmasked = encoder(embedding(token_ids), padding_mask=np.ones_like(token_ids))
    np.testing.assert_allclose(implicit, explicit, atol=1e-6)
    assert not np.allclose(implicit[0, :4], unmasked[0, :4], atol=1e-4)
    assert encoder.compute_mask(embedding(token_ids), token_ids != 0) is not None


def test_causal_mask_hides_the_future():
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32)
    changed = INPUTS.copy()
    changed[:, 4:] = RNG.normal(size=(2, 2, 16))
    before = encoder(INPUTS, use_causal_mask=True)
    after = encoder(changed, use_causal_mask=True)
    np.testing.assert_allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:], atol=1e-3)
    _, weights = encoder(INPUTS, use_causal_mask=True, return_attention_scores=True)
    upper = np.triu(np.ones((6, 6), bool), k=1)
    assert np.all(keras.ops.convert_to_numpy(weights)[..., upper] == 0)


@pytest.mark.parametrize("position_bias", [None, "alibi"])
def test_cached_decoding_matches_the_causal_full_pass(position_bias):
    # With ALiBi the cached step must place its one query at `cache_index`, not at 0.
    encoder = TransformerEncoder(num_heads=4, intermediate_dim=32, position_bias=position_bias)
    full = keras.ops.convert_to_numpy(encoder(INPUTS, use_causal_mask=True))
    cache = np.zeros((2, 2, 4, 8, 4), "float32")
    steps = []
    for i in range(6):
        step, cache = encoder(INPUTS[:, i : i + 1], cache=cache, cache_index=i)
        steps.append(keras.ops.convert_to_numpy(step))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_alibi_makes_near_keys_count_more_from_the_start():
    # Same weights, with and without the bias: ALiBi pulls each query's attention towards its
    # neighbours, so the mean attended distance falls.
    plain = TransformerEncoder(num_heads=4, intermediate_dim=32)
    alibi = TransformerEncoder(num_heads=4, intermediate_dim=32, position_bias="alibi")
    plain(INPUTS)
    alibi(INPUTS)
    alibi.set_weights(plain.get_weights())
    distance = np.abs(np.arange(6)[:, None] - np.arange(6)[None, :])
    mean_distance = {
        name: float((np.asarray(encoder(INPUTS, return_attention_scores=True)[1]) * distance)
                    .sum(-1).mean())
        for name, encoder in [("plain", plain), ("alibi", alibi)]
    }
    assert mean_distance["alibi"] < mean_distance["plain"] - 0.1


def test_attention_mask_combines_with_padding_mask():
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32)
    attention_mask = np.tril(np.ones((2, 6, 6), "int32"))
    via_attention_mask = encoder(INPUTS, attention_mask=attention_mask, padding_mask=PADDING_MASK)
    via_causal_flag = encoder(INPUTS, use_causal_mask=True, padding_mask=PADDING_MASK)
    np.testing.assert_allclose(via_attention_mask, via_causal_flag, atol=1e-6)
    _, weights = encoder(
        INPUTS, attention_mask=attention_mask, padding_mask=PADDING_MASK,
        return_attention_scores=True,
    )
    weights = keras.ops.convert_to_numpy(weights)
    assert weights.shape == (2, 2, 6, 6) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[0, :, :, 4:] == 0)  # padding keys of the first sequence


def test_dropout_only_in_training():
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32, dropout=0.5)
    np.testing.assert_array_equal(encoder(INPUTS), encoder(INPUTS))
    assert not np.allclose(encoder(INPUTS, training=True), encoder(INPUTS, training=True))


def test_attention_weights_are_float32_softmax_under_mixed_precision():
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=32, dtype="mixed_bfloat16")
    outputs, weights = encoder(INPUTS, return_attention_scores=True)
    assert keras.backend.standardize_dtype(weights.dtype) == "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_heads=0, intermediate_dim=8), "num_heads"),
        (dict(num_heads=2, intermediate_dim=-8), "intermediate_dim"),
        (dict(num_heads=2, intermediate_dim=8, dropout=1.5), "dropout"),
        (dict(num_heads=2, intermediate_dim=8, layer_norm_epsilon=0), "layer_norm_epsilon"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransformerEncoder(**kwargs)


def test_bad_inputs():
    with pytest.raises(
        ValueError, match=r"hidden size \(16\) must be divisible by `num_heads` \(3\)"
    ):
        TransformerEncoder(num_heads=3, intermediate_dim=8)(INPUTS)
    encoder = TransformerEncoder(num_heads=2, intermediate_dim=8)
    with pytest.raises(ValueError, match="`padding_mask` must have shape"):
        encoder(INPUTS, padding_mask=np.ones((2, 5)))
    with pytest.raises(ValueError, match="`attention_mask` must have shape"):
        encoder(INPUTS, attention_mask=np.ones((2, 6)))
