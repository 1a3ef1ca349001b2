import keras
import numpy as np

from kerasnlm.layers import ReplacedTokenSampler


def test_the_sampler_writes_only_the_used_masked_positions():
    sampler = ReplacedTokenSampler(seed=0)
    logits = np.full((2, 3, 10), -1e9, "float32")
    logits[:, 0, 7] = logits[:, 1, 9] = logits[:, 2, 5] = 0.0  # certain draws: 7, 9, 5
    token_ids = np.array([[2, 4, 4, 4, 3], [2, 6, 6, 6, 3]])
    # Row 1's last slot is unused (position 0, the [CLS]): it writes nothing.
    positions = np.array([[1, 3, 4], [2, 3, 0]])
    corrupted, samples = sampler(token_ids, positions, logits)
    np.testing.assert_array_equal(samples, [[7, 9, 5], [7, 9, 5]])
    np.testing.assert_array_equal(corrupted, [[2, 7, 4, 9, 5], [2, 6, 7, 9, 3]])


def test_the_sampler_draws_from_the_generator_distribution():
    sampler = ReplacedTokenSampler(seed=3)
    probabilities = np.array([0.5, 0.3, 0.2, 0.0])
    logits = np.broadcast_to(np.log(probabilities + 1e-30), (1, 4000, 4)).astype("float32")
    _, samples = sampler(np.zeros((1, 4001), "int32"), np.arange(1, 4001)[None], logits)
    frequencies = np.bincount(np.asarray(samples).ravel(), minlength=4) / 4000
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)


def test_config_round_trip_and_saved_in_a_model(tmp_path):
    sampler = ReplacedTokenSampler(seed=5, name="sampler")
    assert ReplacedTokenSampler.from_config(sampler.get_config()).get_config() == (
        sampler.get_config())
    inputs = [keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32"),
              keras.Input((None, 10))]
    model = keras.Model(inputs, sampler(*inputs))
    model.save(tmp_path / "sampler.keras")
    reloaded = keras.models.load_model(tmp_path / "sampler.keras")
    assert isinstance(reloaded.get_layer("sampler"), ReplacedTokenSampler)
    logits = np.zeros((1, 2, 10), "float32")
    corrupted, samples = reloaded.predict([np.ones((1, 4), "int32"), np.array([[1, 2]]), logits],
                                          verbose=0)
    assert corrupted.dtype == samples.dtype == np.int32
    assert corrupted[0, 0] == 1 and corrupted[0, 3] == 1
    assert ((samples >= 0) & (samples < 10)).all()
