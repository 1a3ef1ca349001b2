import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_layer_test

from kerasnlm.layers import FusedDense

RNG = np.random.default_rng(0)


def test_layer_contract(tmp_path):
    run_layer_test(
        FusedDense, dict(units=12, activation="gelu"), {"inputs": RNG.normal(size=(2, 5, 8))},
        expected_output_shape=(2, 5, 12), tmp_path=tmp_path,
    )


@pytest.mark.parametrize("activation", [None, "relu", "gelu", "tanh"])
@pytest.mark.parametrize("shape", [(7, 8), (2, 5, 8), (2, 3, 4, 8)])
def test_computes_what_keras_dense_computes(activation, shape):
    fused = FusedDense(12, activation=activation)
    dense = keras.layers.Dense(12, activation=activation)
    x = RNG.normal(size=shape).astype("float32")
    fused.build(shape)
    dense.build(shape)
    dense.set_weights(fused.get_weights())
    expected = keras.ops.convert_to_numpy(dense(x))
    # Eagerly and as a graph, where TensorFlow fuses the product, bias and activation.
    for run in (fused, tf.function(lambda v: fused(v, training=False))):
        out = keras.ops.convert_to_numpy(run(x))
        assert out.shape == shape[:-1] + (12,)
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)
    # Unknown batch and length in a graph: the static shape still says the last axis.
    traced = tf.function(lambda v: fused(v), input_signature=[
        tf.TensorSpec((None,) * (len(shape) - 1) + (8,), "float32")
    ]).get_concrete_function()
    assert traced.structured_outputs.shape[-1] == 12


def test_mixed_precision_and_no_bias():
    fused = FusedDense(6, use_bias=False, dtype="mixed_bfloat16")
    dense = keras.layers.Dense(6, use_bias=False, dtype="mixed_bfloat16")
    x = RNG.normal(size=(3, 4, 8)).astype("float32")
    fused.build(x.shape)
    dense.build(x.shape)
    dense.set_weights(fused.get_weights())
    out = fused(x)
    assert out.dtype == "bfloat16" and fused.kernel.dtype == "float32"
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")),
        keras.ops.convert_to_numpy(keras.ops.cast(dense(x), "float32")),
    )
