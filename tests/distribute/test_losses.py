import numpy as np

from kerasnlm.distribute.losses import WeightedBinaryCrossEntropy


def test_binary_cross_entropy_is_the_mean_over_weighted_tokens():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 7)).astype("float32")
    labels = (rng.random((3, 7)) < 0.3).astype("float32")
    weights = np.ones((3, 7), "float32")
    weights[1, 4:] = 0.0  # padding
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    per_token = -(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
    expected = (per_token * weights).sum() / weights.sum()
    loss = WeightedBinaryCrossEntropy()(labels, logits, weights)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # Changing what the padding holds changes nothing.
    labels[1, 4:] = 1.0 - labels[1, 4:]
    np.testing.assert_allclose(float(WeightedBinaryCrossEntropy()(labels, logits, weights)),
                               expected, rtol=1e-5)
