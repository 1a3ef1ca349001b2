"""What every kerasnlm model inherits from `kerasnlm.models.Model`."""

import numpy as np
import pytest

import kerasnlm as knlm


def tiny_backbone(dropout):
    return knlm.models.TransformerBackbone(
        vocabulary_size=100, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=dropout,
    )


@pytest.mark.parametrize("task", ["classifier", "tagger", "causal_lm"])
def test_dropout_runs_in_training_steps_only(task):
    """Keras passes `training=True` to a model's `call` only if its signature names the
    argument; kerasnlm's input-checking `call` once hid it, and no model ever dropped out."""
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(5, 100, (32, 8)).astype("int32"),
         "padding_mask": np.ones((32, 8), "int32")}
    if task == "classifier":
        model = knlm.models.SequenceClassifier(tiny_backbone(0.5), 2, dropout=0.5)
        y = np.arange(32) % 2
    elif task == "tagger":
        model = knlm.models.TokenClassifier(tiny_backbone(0.5), 3, dropout=0.5)
        y = rng.integers(0, 3, (32, 8))
    else:
        model, y = knlm.models.CausalLanguageModel(tiny_backbone(0.5)), x["token_ids"]
    model.compile(learning_rate=0.0)  # the weights never move: only dropout varies the loss
    losses = {round(model.train_on_batch(x, y, return_dict=True)["loss"], 6) for _ in range(3)}
    assert len(losses) == 3
    evaluated = {round(model.evaluate(x, y, return_dict=True, verbose=0)["loss"], 6)
                 for _ in range(2)}
    assert len(evaluated) == 1
    def outputs(training):
        out = model(x, training=training)
        return np.asarray(out["logits"] if isinstance(out, dict) else out)

    assert np.abs(outputs(True) - outputs(True)).max() > 0
    np.testing.assert_array_equal(outputs(False), outputs(False))
