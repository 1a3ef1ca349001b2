import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm

samples = knlm.data.samples


def make_backbone(tokenizer, **kwargs):
    return knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=32, intermediate_dim=64, **kwargs,
    )


def fixed_batch(tokenizer):
    texts = knlm.data.read_text(knlm.data.samples.english_text("valid"))[:64]
    dataset = knlm.data.masked_lm_dataset(
        texts, tokenizer, sequence_length=32, batch_size=16, seed=0
    )
    return next(iter(dataset))


def test_tied_to_the_backbone_embedding_also_after_reload(tokenizer, tmp_path):
    backbone = make_backbone(tokenizer)
    model = knlm.models.MaskedLanguageModel(backbone)
    assert model.backbone is backbone
    assert model.head.token_embedding.embeddings is backbone.token_embedding.embeddings
    # One variable: the embedding is counted once among the model's weights.
    assert sum(w is backbone.token_embedding.embeddings for w in model.weights) == 1
    x, y, w = fixed_batch(tokenizer)
    expected = model.predict(x, verbose=0)

    model.compile()
    model.save(tmp_path / "mlm.keras")
    reloaded = keras.models.load_model(tmp_path / "mlm.keras")
    assert isinstance(reloaded, knlm.models.MaskedLanguageModel)
    assert reloaded.head.token_embedding.embeddings is reloaded.backbone.token_embedding.embeddings
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    assert reloaded.compiled and isinstance(reloaded.optimizer, keras.optimizers.AdamW)
    assert reloaded.get_compile_config()["default_optimizer"] is True
    # Still tied after reloading: moving the backbone's matrix moves the head's logits.
    reloaded.backbone.token_embedding.embeddings.assign(
        reloaded.backbone.token_embedding.embeddings * 2.0
    )
    assert not np.allclose(reloaded.predict(x, verbose=0), expected)


def test_loss_falls_on_a_fixed_batch(tokenizer):
    model = knlm.models.MaskedLanguageModel(make_backbone(tokenizer, dropout=0.0))
    model.compile(learning_rate=2e-3)
    x, y, w = fixed_batch(tokenizer)
    logits = model.predict(x, verbose=0)
    assert (
        logits.shape == (16, y.shape[1], tokenizer.vocabulary_size)
        and logits.dtype == np.float32
    )
    history = model.fit(x, y, sample_weight=w, epochs=40, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
    # The loss is averaged over real predictions: at start it is near log(vocabulary_size).
    assert abs(history["loss"][0] - np.log(tokenizer.vocabulary_size)) < 1.5
    assert history["accuracy"][-1] > 0.5
    assert set(history) == {"loss", "accuracy", "perplexity"}


def test_mask_positions_out_of_range_are_refused(tokenizer):
    model = knlm.models.MaskedLanguageModel(make_backbone(tokenizer))
    model.compile()
    x, y, w = fixed_batch(tokenizer)
    bad = {**{k: v.numpy() for k, v in x.items()}}
    bad["mask_positions"] = bad["mask_positions"].copy()
    bad["mask_positions"][0, 0] = 40
    with pytest.raises(ValueError, match=r"`mask_positions` holds values outside \[0, 32\)"):
        model.fit(bad, y.numpy(), sample_weight=w.numpy(), verbose=0)
    dataset = tf.data.Dataset.from_tensors((bad, y, w))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask_positions` holds values >= 32"):
        model.fit(dataset, verbose=0)
    # A batch shorter than sequence_length: position 20 of an 8-token batch is out of range
    # too, although below 32 (XLA would clamp it to position 7).
    short = {"token_ids": bad["token_ids"][:, :8], "padding_mask": bad["padding_mask"][:, :8],
             "mask_positions": np.full_like(bad["mask_positions"], 20)}
    model.compile(jit_compile=True)
    with pytest.raises(ValueError, match=r"`mask_positions` holds values outside \[0, 8\)"):
        model.fit(short, y.numpy(), sample_weight=w.numpy(), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask_positions` holds values >= 8"):
        model.fit(tf.data.Dataset.from_tensors((short, y, w)), verbose=0)


def test_evaluate_loss_is_exact_on_a_streamed_file(tokenizer, tmp_path):
    """A pipeline read from a file has no known length; Keras' `evaluate` once counted a
    phantom last batch into the loss (scaling it by steps / (steps + 1)) when the batch size
    was static. The loss (a mean of batch means) must match log(perplexity) (over all
    weighted tokens) up to the batches' unequal weights; the bug was off by 25% here."""
    path = tmp_path / "valid.txt"
    path.write_text("\n".join(knlm.data.read_text(samples.english_text("valid"))), "utf-8")
    backbone = knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 32, 1, 2, 32, 64)
    model = knlm.models.MaskedLanguageModel(backbone)
    model.compile()
    for pack in (False, True):
        ds = knlm.data.masked_lm_dataset(
            str(path), tokenizer, sequence_length=32, batch_size=16, pack_documents=pack,
            shuffle=False, seed=0,
        ).take(3)
        assert ds.cardinality() == tf.data.UNKNOWN_CARDINALITY
        results = model.evaluate(ds, verbose=0, return_dict=True)
        np.testing.assert_allclose(results["loss"], np.log(results["perplexity"]), rtol=2e-3)


def test_training_matches_the_full_encoder_then_gather(tokenizer):
    """The model computes only the masked positions in the backbone's last block (speed).
    The maths must not change: 200 steps from the same weights on the same batches give the
    losses of the plain path, the whole sequence encoded and then the masked rows picked.
    Pre-norm, so the final LayerNorm sees only those rows too (post-norm blocks are checked
    row by row in tests/layers/test_transformer_encoder.py)."""
    keras.utils.set_random_seed(0)
    backbone = make_backbone(tokenizer, dropout=0.0, normalize_first=True)
    model = knlm.models.MaskedLanguageModel(backbone)
    reference_backbone = knlm.models.TransformerBackbone.from_config(backbone.get_config())
    reference_head = knlm.layers.LanguageModelHead(
        reference_backbone.token_embedding, transform=True,
        layer_norm_epsilon=backbone.layer_norm_epsilon,
    )
    inputs = reference_backbone.new_inputs()
    inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
    sequence = reference_backbone.encode_inputs(inputs)
    reference = keras.Model(
        inputs,
        reference_head(
            keras.ops.take_along_axis(sequence, inputs["mask_positions"][:, :, None], axis=1)
        ),
    )
    reference.set_weights(model.get_weights())
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    reference.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=knlm.models.task.token_prediction_loss(),  # the model's default loss
    )
    texts = knlm.data.read_text(knlm.data.samples.english_text("valid"))[:400]
    batches = list(
        knlm.data.masked_lm_dataset(texts, tokenizer, sequence_length=32, batch_size=8, seed=0)
    )
    losses, reference_losses = [], []
    for step in range(200):
        x, y, w = batches[step % len(batches)]
        losses.append(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"])
        reference_losses.append(
            reference.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"]
        )
    assert losses[-1] < 0.8 * losses[0]  # it trained
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-4)
