import keras
import keras_hub
import numpy as np
import pytest

from kerasnlm.models import TransformerBackbone

INPUTS = {
    "token_ids": np.array([[101, 7592, 2088, 999, 102, 0], [101, 2307, 102, 0, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], bool),
    "segment_ids": np.array([[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0]], "int32"),
}


def outputs(backbone):
    result = backbone(INPUTS)
    real = INPUTS["padding_mask"]
    return (
        keras.ops.convert_to_numpy(result["sequence_output"])[real],
        keras.ops.convert_to_numpy(result["pooled_output"]),
    )


@pytest.fixture(scope="module")
def keras_hub_minilm(minilm_path):
    # keras-hub reads the same Hugging Face folder (its own converter).
    return keras_hub.models.BertBackbone.from_preset(minilm_path)


def test_converted_backbone_computes_what_keras_hub_computes(keras_hub_minilm, tmp_path):
    ours = TransformerBackbone.from_keras_hub(keras_hub_minilm)
    assert (ours.activation, ours.layer_norm_epsilon, ours.num_segments) == (
        "gelu_approximate", 1e-12, 2
    )
    for a, b in zip(outputs(ours), outputs(keras_hub_minilm)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    # From a keras-hub preset folder too.
    keras_hub_minilm.save_to_preset(str(tmp_path / "preset"))
    from_folder = TransformerBackbone.from_keras_hub(str(tmp_path / "preset"))
    for a, b in zip(outputs(from_folder), outputs(ours)):
        np.testing.assert_array_equal(a, b)


def test_exact_gelu_gives_the_original_bert(keras_hub_minilm, minilm_path):
    # keras-hub's tanh GELU drifts from the original model; asked for the exact GELU, the
    # converted weights compute what from_pretrained's backbone computes.
    exact = TransformerBackbone.from_keras_hub(keras_hub_minilm, activation="gelu")
    original = TransformerBackbone.from_pretrained(minilm_path)
    for a, b in zip(outputs(exact), outputs(original)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    drift = np.abs(outputs(keras_hub_minilm)[0] - outputs(original)[0]).max()
    assert drift > 1e-4


def test_only_bert_converts():
    gpt2 = keras_hub.models.GPT2Backbone(
        vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=8,
    )
    with pytest.raises(ValueError, match="Only keras-hub's `BertBackbone`.*GPT2Backbone"):
        TransformerBackbone.from_keras_hub(gpt2)
