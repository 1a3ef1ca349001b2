import keras
import numpy as np

import kerasnlm as knlm


def _pretrain(tokenizer, precision, steps=10, epochs=5):
    """A 2-layer, hidden-64 backbone trained as a masked LM on the bundled sample; returns
    the per-epoch mean losses and the model. (Small: bfloat16 is emulated on CPUs without
    AMX, and a bigger model shows the same agreement, only slower.)"""
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=64, num_layers=2,
        num_heads=2, hidden_dim=64, intermediate_dim=256, dropout=0.0, dtype=precision,
    )
    model = knlm.models.MaskedLanguageModel(backbone)
    model.compile(learning_rate=1e-3)
    data = knlm.data.masked_lm_dataset(
        knlm.data.samples.english_text(), tokenizer, sequence_length=64, batch_size=16,
        pack_documents=True, seed=0,
    ).repeat()
    history = model.fit(data, steps_per_epoch=steps, epochs=epochs, verbose=0)
    return history.history["loss"], model, data


def test_mixed_bfloat16_converges_like_float32(tokenizer):
    """50 steps from the same initial weights and batches: the last 10 steps' mean loss in
    mixed_bfloat16 is within 2% of float32's; the weights stay float32 and the outputs are
    float32."""
    float32_losses, _, _ = _pretrain(tokenizer, "float32")
    bfloat16_losses, model, data = _pretrain(tokenizer, "mixed_bfloat16")
    assert float32_losses[-1] < float32_losses[0] - 0.3  # it did learn
    assert abs(bfloat16_losses[-1] - float32_losses[-1]) < 0.02 * float32_losses[-1], (
        float32_losses, bfloat16_losses)
    assert all(w.dtype == "float32" for w in model.weights)
    x, _, _ = next(iter(data))
    assert keras.backend.standardize_dtype(model(x).dtype) == "float32"
    outputs = model.backbone({k: x[k] for k in ("token_ids", "padding_mask")})
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in outputs.values())


def test_mixed_float16_scales_the_loss(tokenizer):
    """float16 (GPUs of compute capability 7.x) needs loss scaling: `compile` adds it, from the
    task's policy, and training still lowers the loss; logits are float32."""
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64, dtype="mixed_float16",
    )
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(learning_rate=1e-3)
    assert isinstance(classifier.optimizer, keras.optimizers.LossScaleOptimizer)
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    data = knlm.data.classification_dataset(
        texts[:256], labels[:256], tokenizer, sequence_length=32, num_classes=2, seed=0
    )
    history = classifier.fit(data, epochs=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    x = next(iter(data))[0]
    assert keras.backend.standardize_dtype(classifier(x).dtype) == "float32"
