import keras
import numpy as np
import pytest

import kerasnlm as knlm


def one_step(layer_decay):
    """How far one fit step moves each weight of a fresh, seeded classifier."""
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=60, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=0.0, num_segments=2, normalize_embeddings=True,
    )  # BERT's embedding layers: segments and a LayerNorm, which decay with the embeddings
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2, dropout=0.0)
    classifier.compile(optimizer=knlm.training.LayerwiseDecayAdamW(
        1e-2, num_layers=2, layer_decay=layer_decay, weight_decay=0.0))
    before = {w.path: w.numpy().copy() for w in classifier.trainable_weights}
    ids = np.random.default_rng(0).integers(5, 60, size=(8, 8)).astype("int32")
    classifier.fit(
        {"token_ids": ids, "padding_mask": np.ones_like(ids)}, np.arange(8) % 2, verbose=0
    )
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
        "segment_embedding/embeddings": 0.125,
        "embedding_norm/gamma": 0.125,
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
    frozen = [
        w.numpy().copy()
        for w in backbone.embedding.weights + backbone.encoder_layers[0].weights
    ]
    trained = backbone.encoder_layers[1].weights[0].numpy().copy()
    classifier.compile(learning_rate=1e-2)
    ids = np.random.default_rng(0).integers(5, 60, size=(8, 8)).astype("int32")
    classifier.fit(
        {"token_ids": ids, "padding_mask": np.ones_like(ids)},
        np.arange(8) % 2,
        epochs=2,
        verbose=0,
    )
    after = [w.numpy() for w in backbone.embedding.weights + backbone.encoder_layers[0].weights]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after))
    assert not np.array_equal(trained, backbone.encoder_layers[1].weights[0].numpy())
    assert mlm.head.token_embedding.embeddings is backbone.token_embedding.embeddings


def test_bad_arguments():
    with pytest.raises(ValueError, match="layer_decay"):
        knlm.training.LayerwiseDecayAdamW(1e-3, num_layers=2, layer_decay=0)
    with pytest.raises(ValueError, match="num_layers"):
        knlm.training.LayerwiseDecayAdamW(1e-3, num_layers=0)


DISTRIBUTED_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import kerasnlm as knlm

def one_step(layer_decay):
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=60, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
            intermediate_dim=32, dropout=0.0)
        classifier = knlm.models.SequenceClassifier(backbone, num_classes=2, dropout=0.0)
        classifier.compile(optimizer=knlm.training.LayerwiseDecayAdamW(
            1e-2, num_layers=2, layer_decay=layer_decay, weight_decay=0.0))
    assert classifier.distribute_strategy.num_replicas_in_sync == 2
    before = {w.path: w.numpy().copy() for w in classifier.trainable_weights}
    ids = np.random.default_rng(0).integers(5, 60, size=(8, 8)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": ids, "padding_mask": np.ones_like(ids)}, np.arange(8) % 2)).batch(8)
    classifier.fit(data, verbose=0)
    return {w.path: np.abs(w.numpy() - before[w.path]).max() for w in classifier.trainable_weights}

decayed, full = one_step(0.5), one_step(1.0)
for path, scale in {"logits/kernel": 1.0, "encoder_1/feedforward_output/kernel": 0.5,
                    "encoder_0/feedforward_output/kernel": 0.25,
                    "token_embedding/embeddings": 0.125}.items():
    ratio = decayed[path] / full[path]
    assert abs(ratio - scale) < 1e-3 * scale, (path, ratio, scale)
print("DISTRIBUTED OK")
"""


def test_layerwise_decay_under_a_mirrored_strategy(tmp_path):
    """Two replicas (logical CPU devices here, GPUs unchanged): the per-layer scales hold
    inside `fit` when gradients are all-reduced across replicas."""
    import os
    import subprocess
    import sys

    script = tmp_path / "distributed.py"
    script.write_text(DISTRIBUTED_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "DISTRIBUTED OK" in result.stdout
