import keras
import numpy as np
import pytest

import kerasnlm as knlm


def make_backbone(tokenizer, **kwargs):
    return knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=32, intermediate_dim=64, normalize_first=True, **kwargs,
    )


def fixed_batch(tokenizer):
    texts = knlm.data.read_text(knlm.data.samples.english_text("valid"))[:64]
    dataset = knlm.data.masked_lm_dataset(
        texts, tokenizer, sequence_length=32, batch_size=16, pack_documents=True, seed=0
    )
    return [value.numpy() if not isinstance(value, dict) else
            {k: v.numpy() for k, v in value.items()} for value in next(iter(dataset))]


def test_generator_and_discriminator_share_one_embedding_also_after_reload(
    tokenizer, tmp_path
):
    backbone = make_backbone(tokenizer)
    model = knlm.models.ElectraPretrainer(backbone, seed=0)
    embeddings = backbone.token_embedding.embeddings
    assert model.backbone is backbone
    assert model.generator_head.token_embedding.embeddings is embeddings
    assert sum(w is embeddings for w in model.weights) == 1
    model.compile()
    x, y, w = fixed_batch(tokenizer)
    model.fit(x, y, sample_weight=w, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "electra.keras")
    reloaded = keras.models.load_model(tmp_path / "electra.keras")
    assert isinstance(reloaded, knlm.models.ElectraPretrainer)
    assert (reloaded.generator_head.token_embedding.embeddings
            is reloaded.backbone.token_embedding.embeddings)
    assert reloaded.get_config() == model.get_config()
    for before, after in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    # The discriminator's logits do not depend on the draws where nothing is masked.
    unmasked = {**x, "mask_positions": np.zeros_like(x["mask_positions"])}
    np.testing.assert_allclose(
        reloaded.predict(unmasked, verbose=0)["discriminator_logits"],
        model.predict(unmasked, verbose=0)["discriminator_logits"], rtol=1e-5, atol=1e-5,
    )


def test_losses_fall_and_the_discriminator_finds_replacements(tokenizer):
    model = knlm.models.ElectraPretrainer(make_backbone(tokenizer, dropout=0.0), seed=0)
    model.compile(learning_rate=2e-3)
    x, y, w = fixed_batch(tokenizer)
    history = model.fit(x, y, sample_weight=w, epochs=40, batch_size=16, verbose=0).history
    assert set(history) == {"loss", "generator_accuracy", "discriminator_accuracy"}
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]

    # The targets: 1 exactly where a sample differs from the original token.
    outputs = model.predict(x, verbose=0)
    labels, weights = model.replaced_targets(x, y, outputs, w)
    labels = np.asarray(labels)
    replaced = (outputs["samples"] != y) & (w > 0)
    assert labels.sum() == replaced.sum() > 0
    rows, slots = np.nonzero(replaced)
    assert (labels[rows, x["mask_positions"][rows, slots]] == 1).all()
    np.testing.assert_array_equal(weights, x["padding_mask"])
    # The discriminator scores replaced tokens above the others it sees, and beats always
    # answering "original".
    logits = outputs["discriminator_logits"]
    assert logits[labels == 1].mean() > logits[labels == 0].mean() + 1.0
    originals = 1.0 - labels.sum() / weights.numpy().sum()
    assert history["discriminator_accuracy"][-1] > originals + 0.03, (
        history["discriminator_accuracy"], originals)


def test_arguments_are_checked(tokenizer):
    backbone = make_backbone(tokenizer)
    with pytest.raises(ValueError, match="`generator_layers` must be a positive integer"):
        knlm.models.ElectraPretrainer(backbone, generator_layers=0)
    with pytest.raises(ValueError, match="`discriminator_weight`"):
        knlm.models.ElectraPretrainer(backbone, discriminator_weight=-1.0)
