import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlm.models import TransformerBackbone

CONFIG = dict(
    vocabulary_size=50,
    sequence_length=12,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
)
TOKEN_IDS = np.array([[2, 11, 17, 9, 3, 0, 0, 0], [2, 5, 6, 7, 8, 9, 10, 3]], dtype="int32")
INPUTS = {"token_ids": TOKEN_IDS, "padding_mask": TOKEN_IDS != 0}


def numpy_outputs(model, inputs=INPUTS):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(inputs).items()}


def test_outputs_and_token_embedding():
    backbone = TransformerBackbone(**CONFIG)
    outputs = numpy_outputs(backbone)
    assert outputs["sequence_output"].shape == (2, 8, 16)
    np.testing.assert_array_equal(outputs["pooled_output"], outputs["sequence_output"][:, 0])
    assert backbone.token_embedding.embeddings.shape == (50, 16)
    assert any(w is backbone.token_embedding.embeddings for w in backbone.trainable_weights)
    # 2 blocks x (qkv, out, ffn in, ffn out: kernel + bias; 2 norms: gamma + beta) + 2 embeddings
    assert len(backbone.trainable_weights) == 2 * 12 + 2


@pytest.mark.parametrize(
    "variant",
    [
        dict(),
        dict(position_encoding="sinusoidal"),
        dict(normalize_first=True, dropout=0.0, position_bias="alibi"),
        dict(num_segments=2, normalize_embeddings=True, use_pooler=True,
             activation="gelu_approximate", layer_norm_epsilon=1e-12),
    ],
)
def test_config_round_trip_and_keras_file(variant, tmp_path):
    backbone = TransformerBackbone(**CONFIG, **variant)
    config = backbone.get_config()
    rebuilt = TransformerBackbone.from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(backbone.get_weights())
    expected = numpy_outputs(backbone)
    np.testing.assert_array_equal(
        numpy_outputs(rebuilt)["sequence_output"], expected["sequence_output"]
    )

    path = tmp_path / "backbone.keras"
    backbone.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded, TransformerBackbone)
    for key in expected:
        np.testing.assert_array_equal(numpy_outputs(reloaded)[key], expected[key])


def test_output_positions_give_those_rows_and_attention_rows():
    backbone = TransformerBackbone(**CONFIG, position_bias="alibi")
    ids = np.array([[2, 15, 27, 9, 3, 0], [2, 8, 8, 11, 12, 3]])
    positions = np.array([[1, 3], [5, 0]])
    full, full_weights = backbone.encode(ids, ids != 0, return_attention_scores=True)
    rows, weights = backbone.encode(
        ids, ids != 0, return_attention_scores=True, output_positions=positions
    )
    np.testing.assert_allclose(
        rows, np.take_along_axis(np.asarray(full), positions[:, :, None], 1), atol=1e-5
    )
    for before, after in zip(full_weights[:-1], weights[:-1]):
        np.testing.assert_array_equal(before, after)
    last = np.take_along_axis(np.asarray(full_weights[-1]), positions[:, None, :, None], 2)
    np.testing.assert_allclose(weights[-1], last, atol=1e-6)
    with pytest.raises(ValueError, match="`output_positions` is not supported with a key/value"):
        backbone.encode(ids[:, :1], cache=backbone.initial_cache(2, 6), output_positions=positions)


def test_bert_options_segments_embedding_norm_and_pooler():
    backbone = TransformerBackbone(
        **CONFIG, num_segments=2, normalize_embeddings=True, use_pooler=True, dropout=0.0
    )
    assert "segment_ids" in backbone.input
    outputs = numpy_outputs(backbone)  # segment ids left out: segment 0 everywhere
    zeros = numpy_outputs(backbone, {**INPUTS, "segment_ids": np.zeros_like(TOKEN_IDS)})
    np.testing.assert_array_equal(outputs["sequence_output"], zeros["sequence_output"])
    pair_segments = (np.arange(8) >= 4)[None].repeat(2, 0).astype("int32")
    pair = numpy_outputs(backbone, {**INPUTS, "segment_ids": pair_segments})
    assert np.abs(pair["sequence_output"] - outputs["sequence_output"]).max() > 1e-3
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in backbone.pooler_dense.weights)
    np.testing.assert_allclose(
        outputs["pooled_output"], np.tanh(outputs["sequence_output"][:, 0] @ kernel + bias),
        atol=1e-6,
    )
    # The embedding sum is normalized: what the first block sees has zero mean, unit variance.
    embedded = backbone.embedding_norm(
        backbone.embedding(TOKEN_IDS) + backbone.segment_embedding(np.zeros_like(TOKEN_IDS))
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(embedded).mean(-1), 0, atol=1e-5)
    # 2 embeddings + segments + embedding norm (2) + 2 blocks x 12 + pooler (2)
    assert len(backbone.trainable_weights) == 2 + 1 + 2 + 2 * 12 + 2
    backbone.embedding_norm.trainable = False
    rebuilt = TransformerBackbone.from_config(backbone.get_config())
    assert rebuilt.embedding_norm.trainable is False and rebuilt.pooler_dense.trainable


def test_bool_and_int_padding_masks_agree():
    backbone = TransformerBackbone(**CONFIG)
    as_bool = numpy_outputs(backbone)
    as_int = numpy_outputs(
        backbone, {**INPUTS, "padding_mask": INPUTS["padding_mask"].astype("int32")}
    )
    np.testing.assert_array_equal(as_bool["sequence_output"], as_int["sequence_output"])


def test_appending_padding_keeps_real_positions():
    backbone = TransformerBackbone(**CONFIG)
    short = numpy_outputs(backbone)
    padded_ids = np.pad(TOKEN_IDS, ((0, 0), (0, 4)))
    padded = numpy_outputs(backbone, {"token_ids": padded_ids, "padding_mask": padded_ids != 0})
    real = TOKEN_IDS != 0
    np.testing.assert_allclose(
        padded["sequence_output"][:, :8][real], short["sequence_output"][real], atol=1e-5
    )


def test_fit_step_trains_every_weight():
    backbone = TransformerBackbone(**CONFIG, dropout=0.0)
    before = [w.numpy().copy() for w in backbone.trainable_weights]
    backbone.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss={"sequence_output": "mse", "pooled_output": None},
    )
    target = {"sequence_output": np.ones((2, 8, 16), "float32")}
    first = backbone.fit(INPUTS, target, epochs=1, verbose=0).history["loss"][0]
    changed = [
        not np.array_equal(old, w.numpy()) for old, w in zip(before, backbone.trainable_weights)
    ]
    # Every weight moves (the embedding matrix as a whole: rows of the ids in the batch).
    assert sum(changed) == len(changed)
    later = backbone.fit(INPUTS, target, epochs=5, verbose=0).history["loss"][-1]
    assert later < first


def test_mixed_bfloat16_outputs_float32():
    reference = TransformerBackbone(**CONFIG)
    mixed = TransformerBackbone(**CONFIG, dtype="mixed_bfloat16")
    mixed.set_weights(reference.get_weights())
    outputs = mixed(INPUTS)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in outputs.values())
    assert all(w.dtype == "float32" for w in mixed.weights)
    error = np.abs(outputs["sequence_output"].numpy() - numpy_outputs(reference)["sequence_output"])
    assert error.max() < 0.1, error.max()  # post-norm outputs have unit scale
    mixed.compile(optimizer="adam", loss={"sequence_output": "mse", "pooled_output": None})
    history = mixed.fit(INPUTS, {"sequence_output": np.zeros((2, 8, 16))}, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_dim=15), r"`hidden_dim` \(15\) must be divisible by `num_heads` \(2\)"),
        (dict(num_layers=0), "num_layers"),
        (dict(vocabulary_size=-3), "vocabulary_size"),
        (dict(sequence_length=0), "sequence_length"),
        (dict(intermediate_dim=0), "intermediate_dim"),
        (dict(dropout=1.0), "dropout"),
        (dict(num_segments=-1), "`num_segments` must be an integer >= 0; received -1"),
        (dict(position_bias="rope"), "`position_bias` must be one of"),
    ],
)
def test_bad_arguments(change, message):
    with pytest.raises(ValueError, match=message):
        TransformerBackbone(**{**CONFIG, **change})


def test_bad_inputs_in_direct_calls():
    backbone = TransformerBackbone(**CONFIG)
    with pytest.raises(TypeError, match="integer"):
        backbone({**INPUTS, "token_ids": TOKEN_IDS.astype("float32")})
    with pytest.raises(ValueError, match=r"`token_ids` holds values outside \[0, 50\).*\[50, 51"):
        backbone({**INPUTS, "token_ids": TOKEN_IDS + 45})
    too_long = np.ones((1, 13), "int32")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="sequence_length"):
        backbone({"token_ids": too_long, "padding_mask": too_long})
    with pytest.raises(ValueError, match="padding_mask"):
        backbone({"token_ids": TOKEN_IDS, "padding_mask": np.ones((2, 7), bool)})


def compiled_backbone():
    backbone = TransformerBackbone(**CONFIG)
    backbone.compile(
        optimizer="sgd", loss={"sequence_output": "mse", "pooled_output": None}, jit_compile=True
    )
    return backbone


def test_fit_refuses_out_of_range_ids_under_xla():
    # Under XLA the gather would clamp id 60 to row 49 and train on it silently.
    bad = {**INPUTS, "token_ids": np.where(TOKEN_IDS == 9, 60, TOKEN_IDS)}
    target = {"sequence_output": np.zeros((2, 8, 16), "float32")}
    backbone = compiled_backbone()
    with pytest.raises(ValueError, match=r"outside \[0, 50\).*\[60\]"):
        backbone.fit(bad, target, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((bad, target)).batch(1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="values >= 50"):
        backbone.fit(dataset, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="values >= 50"):
        backbone.fit(
            tf.data.Dataset.from_tensor_slices((INPUTS, target)).batch(1),
            validation_data=dataset,
            verbose=0,
        )
    with pytest.raises(ValueError, match="outside"):
        backbone.predict(bad, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="values >= 50"):
        backbone.evaluate(dataset, verbose=0)
    # The only fit that ran was on good data; the bad batches never reached a step.
    assert backbone.optimizer.iterations.numpy() == 2


def test_fit_refuses_float_ids_and_long_sequences():
    backbone = compiled_backbone()
    target = {"sequence_output": np.zeros((2, 8, 16), "float32")}
    with pytest.raises(TypeError, match="integer"):
        backbone.fit({**INPUTS, "token_ids": TOKEN_IDS.astype("float32")}, target, verbose=0)
    long_ids = np.ones((2, 16), "int32")
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            {"token_ids": long_ids, "padding_mask": long_ids},
            {"sequence_output": np.zeros((2, 16, 16))},
        )
    ).batch(2)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="sequence_length"):
        backbone.fit(dataset, verbose=0)
