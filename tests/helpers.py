"""Shared test helpers (keras-hub's run_layer_test pattern)."""

import os

import keras
import numpy as np


def _as_inputs(data):
    """keras.Input placeholders matching a dict of numpy arrays."""
    return {
        name: keras.Input(shape=value.shape[1:], dtype=str(value.dtype), name=name)
        for name, value in data.items()
    }


def _call(layer, tensors, input_name):
    tensors = dict(tensors)
    return layer(tensors.pop(input_name), **tensors)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    tmp_path,
    input_name="inputs",
    mixed_precision_output_dtype="bfloat16",
):
    """Checks what every kerasnlm layer promises.

    - `get_config` / `from_config` round trip gives the same config;
    - the layer called eagerly and inside a Functional model gives the same output;
    - one `fit` step runs and changes every trainable weight;
    - `.keras` save / `load_model` gives identical outputs;
    - under `mixed_bfloat16` the weights stay float32 and the output has the promised dtype.

    Args:
        input_data: dict of numpy arrays: `input_name` is the first call argument, the others
            are passed as keyword arguments (masks).
    """
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config

    eager = keras.ops.convert_to_numpy(_call(layer, input_data, input_name))
    assert eager.shape == expected_output_shape

    inputs = _as_inputs(input_data)
    model = keras.Model(inputs, _call(layer, inputs, input_name))
    symbolic = keras.ops.convert_to_numpy(model(input_data))
    np.testing.assert_allclose(symbolic, eager, atol=1e-6)

    before = [keras.ops.convert_to_numpy(w).copy() for w in layer.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    target = np.random.default_rng(0).normal(size=eager.shape).astype("float32")
    history = model.fit(input_data, target, batch_size=len(target), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]
    for weight, old, new in zip(layer.trainable_weights, before, after):
        assert not np.array_equal(old, new), f"{weight.path} did not change in a fit step"

    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reloaded(input_data)),
        keras.ops.convert_to_numpy(model(input_data)),
    )

    mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
    _call(mixed, input_data, input_name)
    mixed.set_weights(layer.get_weights())
    output = _call(mixed, input_data, input_name)
    assert keras.backend.standardize_dtype(output.dtype) == mixed_precision_output_dtype
    assert all(w.dtype == "float32" for w in mixed.weights)
    # bfloat16 keeps 8 bits of mantissa: agreement to a few percent of the output scale.
    reference = keras.ops.convert_to_numpy(_call(layer, input_data, input_name))
    error = np.abs(keras.ops.convert_to_numpy(keras.ops.cast(output, "float32")) - reference)
    assert error.max() < 0.05 * np.abs(reference).max() + 1e-3, error.max()
    return layer


def copy_into_keras_hub(ours, theirs):
    """Copies our fused-QKV weights into keras-hub's separate query/key/value projections."""
    hidden = ours.self_attention.hidden_dim
    heads, head_dim = ours.num_heads, ours.self_attention.head_dim
    kernel = keras.ops.convert_to_numpy(ours.self_attention.query_key_value.kernel)
    bias = keras.ops.convert_to_numpy(ours.self_attention.query_key_value.bias)
    mha = theirs._self_attention_layer
    for i, dense in enumerate([mha._query_dense, mha._key_dense, mha._value_dense]):
        block = slice(i * hidden, (i + 1) * hidden)
        dense.kernel.assign(kernel[:, block].reshape(hidden, heads, head_dim))
        dense.bias.assign(bias[block].reshape(heads, head_dim))
    output = ours.self_attention.output_projection
    mha._output_dense.kernel.assign(
        keras.ops.convert_to_numpy(output.kernel).reshape(heads, head_dim, hidden)
    )
    mha._output_dense.bias.assign(output.bias)
    pairs = [
        (ours.self_attention_norm, theirs._self_attention_layer_norm),
        (ours.feedforward_intermediate, theirs._feedforward_intermediate_dense),
        (ours.feedforward_output, theirs._feedforward_output_dense),
        (ours.feedforward_norm, theirs._feedforward_layer_norm),
    ]
    for mine, other in pairs:
        other.set_weights(mine.get_weights())


def copy_into_keras(ours, theirs):
    """Our fused key/value projection -> keras.layers.MultiHeadAttention's separate ones."""
    heads, head_dim, hidden = ours.num_heads, ours.head_dim, ours.hidden_dim
    theirs._query_dense.kernel.assign(
        keras.ops.convert_to_numpy(ours.query.kernel).reshape(-1, heads, head_dim)
    )
    theirs._query_dense.bias.assign(keras.ops.convert_to_numpy(ours.query.bias).reshape(heads, -1))
    kernel = keras.ops.convert_to_numpy(ours.key_value.kernel)
    bias = keras.ops.convert_to_numpy(ours.key_value.bias)
    for i, dense in enumerate([theirs._key_dense, theirs._value_dense]):
        block = slice(i * hidden, (i + 1) * hidden)
        dense.kernel.assign(kernel[:, block].reshape(-1, heads, head_dim))
        dense.bias.assign(bias[block].reshape(heads, head_dim))
    theirs._output_dense.kernel.assign(
        keras.ops.convert_to_numpy(ours.output_projection.kernel).reshape(heads, head_dim, -1)
    )
    theirs._output_dense.bias.assign(ours.output_projection.bias)


TWO_CPU_REPLICAS = """
import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def run_script(tmp_path, source, name="script.py", timeout=900, two_cpu_replicas=True, env=None):
    """Runs `source` in a fresh Python (TensorFlow fixes its devices at start-up), with two
    logical CPU devices standing in for two GPUs; returns its stdout. Fails the test, showing
    the script's output, when it exits non-zero."""
    import subprocess
    import sys

    script = tmp_path / name
    script.write_text((TWO_CPU_REPLICAS if two_cpu_replicas else "") + source)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
        cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout
