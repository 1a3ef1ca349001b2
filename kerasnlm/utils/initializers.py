import keras


def clone_initializer(initializer):
    """A fresh copy of a Keras initializer, so two weights never share one seeded instance."""
    return keras.initializers.get(keras.initializers.serialize(initializer))
