"""A non-finite loss stops every training route at once, naming the step and the causes."""

import os
import re

import keras
import numpy as np
import pytest
import yaml

import kerasnlm as knlm
from kerasnlm.cli.main import main

samples = knlm.data.samples
TINY = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32)


def classifier():
    backbone = knlm.models.TransformerBackbone(vocabulary_size=50, sequence_length=8, **TINY)
    return knlm.models.SequenceClassifier(backbone, num_classes=2)


def data():
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 50, size=(16, 8)), "padding_mask": np.ones((16, 8), bool)}
    return x, np.arange(16) % 2


def test_fit_stops_at_the_first_non_finite_loss():
    model = classifier()
    model.compile(learning_rate=1e9)
    x, y = data()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(logs["loss"]))

    with pytest.raises(knlm.training.NonFiniteLossError, match=r"stopped at step \d+: the loss "
                       r"is (nan|inf).*learning rate too high \(it was 1e\+09"):
        model.fit(x, y, batch_size=4, epochs=50, verbose=0, callbacks=[Record()])
    # Stopped at the first bad step: every step before it was finite.
    assert not np.isfinite(seen[-1]) and np.all(np.isfinite(seen[:-1]))
    assert int(model.optimizer.iterations.numpy()) == len(seen)


def test_a_sane_run_is_not_stopped():
    model = classifier()
    model.compile()
    x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_pretrain_keeps_the_last_good_checkpoint(tokenizer, tmp_path):
    output = tmp_path / "run"
    settings = dict(
        corpus=[samples.english_text("valid")], output_dir=str(output),
        vocabulary=samples.vocabulary(), objective="causal_lm", sequence_length=16,
        batch_size=4, steps=40, checkpoint_every=4, warmup_steps=1, verbose=0, **TINY,
    )
    with pytest.raises(knlm.training.NonFiniteLossError, match=r"stopped at step \d+") as error:
        knlm.training.pretrain(knlm.training.PretrainConfig(**settings, learning_rate=1e9))
    failed_at = int(re.search(r"step (\d+)", str(error.value)).group(1))
    assert not (output / "backbone.keras").exists()  # no model full of NaN
    saved = [int(re.search(r"\d+", name).group()) for name in os.listdir(output / "checkpoints")
             if re.search(r"\d+", name)] if (output / "checkpoints").exists() else []
    assert all(step < failed_at for step in saved), (saved, failed_at)
    # The CLI says it in one line and exits non-zero.
    config = tmp_path / "pretrain.yaml"
    config.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / "cli")}))
    assert main(["pretrain", "--config", str(config), "--set", "learning_rate=1e9"]) == 2
    assert not os.path.exists(tmp_path / "cli" / "backbone.keras")
