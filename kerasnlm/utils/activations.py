"""Activations by name, including the tanh approximation of GELU that some checkpoints use."""

import keras


@keras.saving.register_keras_serializable(package="kerasnlm")
def gelu_approximate(x):
    """GELU's tanh approximation (GPT-2, keras-hub's BERT, Hugging Face `gelu_new`)."""
    return keras.activations.gelu(x, approximate=True)


def get_activation(identifier):
    """`keras.activations.get`, which also knows `"gelu_approximate"` (`"gelu"` is exact)."""
    if identifier == "gelu_approximate":
        return gelu_approximate
    return keras.activations.get(identifier)
