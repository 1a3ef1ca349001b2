import keras
import keras_hub
import numpy as np
import pytest
from helpers import copy_into_keras
from helpers import copy_into_keras_hub
from helpers import run_layer_test

from kerasnlm.layers import TransformerDecoder
from kerasnlm.layers import TransformerEncoder

RNG = np.random.default_rng(3)
TARGETS = RNG.normal(size=(2, 6, 16)).astype("float32")
ENCODED = RNG.normal(size=(2, 5, 16)).astype("float32")
TARGET_MASK = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
SOURCE_MASK = np.array([[1] * 3 + [0] * 2, [1] * 5], "int32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_layer_contract(normalize_first, tmp_path):
    run_layer_test(
        TransformerDecoder,
        dict(num_heads=4, intermediate_dim=32, normalize_first=normalize_first),
        {
            "inputs": TARGETS,
            "encoder_outputs": ENCODED,
            "decoder_padding_mask": TARGET_MASK,
            "encoder_padding_mask": SOURCE_MASK,
        },
        expected_output_shape=(2, 6, 16),
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("normalize_first", [False, True])
def test_matches_keras_hub(normalize_first):
    ours = TransformerDecoder(num_heads=4, intermediate_dim=32, normalize_first=normalize_first)
    theirs = keras_hub.layers.TransformerDecoder(
        intermediate_dim=32, num_heads=4, activation="gelu", normalize_first=normalize_first
    )
    ours(TARGETS, ENCODED)
    theirs(TARGETS, ENCODED)
    copy_into_keras_hub(ours, theirs)  # self-attention, feed-forward and their norms
    copy_into_keras(ours.cross_attention, theirs._cross_attention_layer)
    theirs._cross_attention_layer_norm.set_weights(ours.cross_attention_norm.get_weights())
    expected = theirs(
        TARGETS, ENCODED, decoder_padding_mask=TARGET_MASK, encoder_padding_mask=SOURCE_MASK
    )
    actual = ours(
        TARGETS, ENCODED, decoder_padding_mask=TARGET_MASK, encoder_padding_mask=SOURCE_MASK
    )
    real = TARGET_MASK.astype(bool)
    np.testing.assert_allclose(numpy(actual)[real], numpy(expected)[real], atol=1e-5)


def test_self_attention_is_causal_and_source_padding_is_unseen():
    decoder = TransformerDecoder(num_heads=4, intermediate_dim=32)
    before = numpy(decoder(TARGETS, ENCODED, encoder_padding_mask=SOURCE_MASK))
    changed_future = TARGETS.copy()
    changed_future[:, 3:] = RNG.normal(size=(2, 3, 16))
    after = numpy(decoder(changed_future, ENCODED, encoder_padding_mask=SOURCE_MASK))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    assert not np.allclose(after[:, 3:], before[:, 3:])
    changed_padding = ENCODED.copy()
    changed_padding[0, 3:] = 100.0  # the masked source positions of row 0
    padded = numpy(decoder(TARGETS, changed_padding, encoder_padding_mask=SOURCE_MASK))
    np.testing.assert_allclose(padded[0], before[0], atol=1e-6)


@pytest.mark.parametrize(
    "options", [dict(normalize_first=False), dict(normalize_first=True, position_bias="alibi")]
)
def test_cached_decoding_matches_the_full_pass(options):
    decoder = TransformerDecoder(num_heads=4, intermediate_dim=32, **options)
    full = numpy(decoder(TARGETS, ENCODED, encoder_padding_mask=SOURCE_MASK))
    cross = decoder.cross_attention.context_cache(ENCODED)
    cache = np.zeros((2, 2, 4, 6, 4), "float32")
    steps = []
    for i in range(6):
        step, cache = decoder(
            TARGETS[:, i : i + 1], encoder_padding_mask=SOURCE_MASK, self_attention_cache=cache,
            self_attention_cache_index=i, cross_attention_cache=cross,
        )
        steps.append(numpy(step))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="`intermediate_dim` must be a positive integer"):
        TransformerDecoder(num_heads=2, intermediate_dim=0)
    decoder = TransformerDecoder(num_heads=4, intermediate_dim=32)
    decoder(TARGETS, ENCODED)
    with pytest.raises(ValueError, match="`decoder_padding_mask` is not supported"):
        decoder(
            TARGETS[:, :1], ENCODED, decoder_padding_mask=TARGET_MASK[:, :1],
            self_attention_cache=np.zeros((2, 2, 4, 6, 4), "float32"),
        )
    with pytest.raises(ValueError, match="`decoder_padding_mask` must have shape"):
        decoder(TARGETS, ENCODED, decoder_padding_mask=TARGET_MASK[:, :4])


def test_config_and_weight_layout_are_the_encoders_plus_cross_attention():
    kwargs = dict(num_heads=4, intermediate_dim=32, dropout=0.1, normalize_first=True)
    decoder = TransformerDecoder(**kwargs, name="decoder_0")
    encoder = TransformerEncoder(**kwargs, name="decoder_0")
    assert decoder.get_config() == encoder.get_config()
    decoder(TARGETS, ENCODED)
    encoder(TARGETS)
    # The saved layout (and the order optimizer state is saved in): the encoder's weights, then
    # the cross-attention's.
    assert [w.path for w in decoder.weights] == [w.path for w in encoder.weights] + [
        "decoder_0/cross_attention/query/kernel",
        "decoder_0/cross_attention/query/bias",
        "decoder_0/cross_attention/key_value/kernel",
        "decoder_0/cross_attention/key_value/bias",
        "decoder_0/cross_attention/output/kernel",
        "decoder_0/cross_attention/output/bias",
        "decoder_0/cross_attention_norm/gamma",
        "decoder_0/cross_attention_norm/beta",
    ]
