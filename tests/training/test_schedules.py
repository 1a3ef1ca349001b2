import numpy as np
import pytest

from kerasnlm.training import WarmupDecay


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_warmup_then_decay_to_zero(decay):
    schedule = WarmupDecay(1e-3, total_steps=110, warmup_steps=10, decay=decay)
    rates = np.array([float(schedule(step)) for step in range(111)])
    np.testing.assert_allclose(rates[:11], np.linspace(0, 1e-3, 11), atol=1e-9)
    assert np.all(np.diff(rates[10:]) <= 1e-12) and rates[-1] == pytest.approx(0, abs=1e-9)
    middle = 1e-3 * (0.5 if decay == "linear" else 0.5 * (1 + np.cos(np.pi * 0.5)))
    assert rates[60] == pytest.approx(middle, rel=1e-5)
    assert WarmupDecay(**schedule.get_config()).get_config() == schedule.get_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(peak_learning_rate=0, total_steps=10), "peak_learning_rate"),
        (dict(peak_learning_rate=1e-3, total_steps=0), "total_steps"),
        (dict(peak_learning_rate=1e-3, total_steps=10, warmup_steps=10), "warmup_steps"),
        (dict(peak_learning_rate=1e-3, total_steps=10, decay="step"), "decay"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupDecay(**kwargs)
