import keras
import numpy as np
import pytest

import kerasnlm as knlm


def one_step(layer_decay):
    """How far one fit step moves each weight of a fresh, seeded classifier."""
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=60, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0,
    )
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2, dropout=0.0)
    classifier.compile(optimizer=knlm.training.LayerwiseDecayAdamW(
        1e-2, num_layers=2, layer_decay=layer_decay, weight_decay=0.0))
    before = {w.path: w.numpy().copy() for w in classifier.trainable_weights}
    ids = np.random.default_rng(0).integers(5, 60, size=(8, 8)).astype("int32")
    classifier.fit({"token_ids": ids, "padding_mask": np.ones_like(ids)}, np.arange(8) % 2, verbose=0)
    moved = {w.path: np.abs(w.numpy() - before[w.path]).max() for w in classifier.trainable_weights}
    return classifier, moved


def test_lower_layers_get_the_smaller_updates_promised(tmp_path):
    classifier, decayed = one_step(0.5)
    _, full = one_step(1.0)  # the same step without decay: Adam's direction is unchanged
    expected = {
        "logits/kernel": 1.0,
        "encoder_1/feedforward_output/kernel": 0.5,
        "encoder_1/self_attention/query_key_value/kernel": 0.5,
        "encoder_0/feedforward_output/kernel": 0.25,
        "token_embedding/embeddings": 0.125,
        "embedding/position_embeddings": 0.125,
    }
    for path, scale in expected.items():
        assert decayed[path] / full[path] == pytest.approx(scale, rel=1e-3), path
    # With dense gradients Adam's first step moves a weight by the learning rate itself.
    assert full["encoder_0/feedforward_output/kernel"] == pytest.approx(1e-2, rel=0.05)

    classifier.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.optimizer, knlm.training.LayerwiseDecayAdamW)
    assert reloaded.optimizer.layer_decay == 0.5 and reloaded.optimizer.num_layers == 2


def test_frozen_embeddings_stay_bit_identical_while_the_rest_trains():
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=60, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )
    mlm = knlm.models.MaskedLanguageModel(backbone)  # the embedding is tied here too
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    backbone.embedding.trainable = False
    backbone.encoder_layers[0].trainable = False  # freeze the lowest block as well
    frozen = [w.numpy().copy() for w in backbone.embedding.weights + backbone.encoder_layers[0].weights]
    trained = backbone.encoder_layers[1].weights[0].numpy().copy()
    classifier.compile(learning_rate=1e-2)
    ids = np.random.default_rng(0).integers(5, 60, size=(8, 8)).astype("int32")
    classifier.fit({"token_ids": ids, "padding_mask": np.ones_like(ids)}, np.arange(8) % 2, epochs=2, verbose=0)
    after = [w.numpy() for w in backbone.embedding.weights + backbone.encoder_layers[0].weights]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after))
    assert not np.array_equal(trained, backbone.encoder_layers[1].weights[0].numpy())
    assert mlm.head.token_embedding.embeddings is backbone.token_embedding.embeddings


def test_bad_arguments():
    with pytest.raises(ValueError, match="layer_decay"):
        knlm.training.LayerwiseDecayAdamW(1e-3, num_layers=2, layer_decay=0)
    with pytest.raises(ValueError, match="num_layers"):
        knlm.training.LayerwiseDecayAdamW(1e-3, num_layers=0)
