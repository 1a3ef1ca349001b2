import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm

LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def sst2():
    return knlm.data.read_tsv(knlm.data.samples.sst2("dev"))


def make_backbone(tokenizer, **kwargs):
    return knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=32, intermediate_dim=64, **kwargs,
    )


def batches(tokenizer, sst2, count=64):
    texts, labels = sst2
    return knlm.data.classification_dataset(
        texts[:count], labels[:count], tokenizer, sequence_length=32, batch_size=16,
        num_classes=2, shuffle=False,
    )


def test_fine_tuning_moves_the_embedding_the_pretraining_model_sees(tokenizer, sst2):
    backbone = make_backbone(tokenizer)
    mlm = knlm.models.MaskedLanguageModel(backbone)
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    matrix = backbone.token_embedding.embeddings
    assert classifier.backbone is mlm.backbone
    assert any(w is matrix for w in classifier.trainable_weights)
    assert mlm.head.token_embedding.embeddings is matrix
    before = matrix.numpy().copy()
    classifier.compile(learning_rate=1e-3)
    classifier.fit(batches(tokenizer, sst2).take(1), verbose=0)
    after = mlm.head.token_embedding.embeddings.numpy()
    used = np.unique(next(iter(batches(tokenizer, sst2)))[0]["token_ids"].numpy())
    assert not np.allclose(before[used], after[used])


def test_loss_falls_and_round_trip(tokenizer, sst2, tmp_path):
    classifier = knlm.models.SequenceClassifier(
        make_backbone(tokenizer, dropout=0.0), num_classes=2, pooling="mean", dropout=0.0,
        tokenizer=tokenizer, labels=LABELS,
    )
    classifier.compile(learning_rate=2e-3)
    history = classifier.fit(batches(tokenizer, sst2), epochs=15, verbose=0).history
    assert history["loss"][-1] < 0.3 * history["loss"][0] and history["accuracy"][-1] > 0.9
    x = next(iter(batches(tokenizer, sst2)))[0]
    expected = classifier.predict(x, verbose=0)
    assert expected.shape == (16, 2) and expected.dtype == np.float32

    classifier.save(tmp_path / "classifier.keras")
    reloaded = keras.models.load_model(tmp_path / "classifier.keras")
    assert isinstance(reloaded, knlm.models.SequenceClassifier)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    assert reloaded.labels == LABELS and reloaded.pooling == "mean" and reloaded.compiled
    assert reloaded.predict(["a gorgeous film"]) == classifier.predict(["a gorgeous film"])


def test_predict_on_raw_strings_answers_empty_text(tokenizer):
    classifier = knlm.models.SequenceClassifier(
        make_backbone(tokenizer), num_classes=2, tokenizer=tokenizer, labels=LABELS
    )
    results = classifier.predict(["a gorgeous , witty film", "", "dull"])
    assert len(results) == 3
    for result in results:
        assert result["label"] in LABELS
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert result["score"] == pytest.approx(max(result["probabilities"].values()))


def test_mean_pooling_ignores_padding(tokenizer):
    classifier = knlm.models.SequenceClassifier(make_backbone(tokenizer), 2, pooling="mean")
    ids = tokenizer(["a gorgeous film"]).to_tensor().numpy()
    padded = np.pad(ids, ((0, 0), (0, 6)))
    short = classifier.predict({"token_ids": ids, "padding_mask": ids != 0}, verbose=0)
    long = classifier.predict({"token_ids": padded, "padding_mask": padded != 0}, verbose=0)
    np.testing.assert_allclose(short, long, atol=1e-5)


def test_a_backbone_saved_alone_loads_into_a_classifier(tokenizer, tmp_path):
    backbone = make_backbone(tokenizer)
    backbone.save(tmp_path / "backbone.keras")
    loaded = keras.models.load_model(tmp_path / "backbone.keras")
    classifier = knlm.models.SequenceClassifier(loaded, num_classes=3)
    np.testing.assert_array_equal(
        classifier.backbone.token_embedding.embeddings.numpy(),
        backbone.token_embedding.embeddings.numpy(),
    )


def test_errors(tokenizer, sst2):
    backbone = make_backbone(tokenizer)
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 2"):
        knlm.models.SequenceClassifier(backbone, num_classes=1)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        knlm.models.SequenceClassifier(backbone, 2, pooling="max")
    with pytest.raises(ValueError, match="`labels` names 3 classes"):
        knlm.models.SequenceClassifier(backbone, 2, labels=["a", "b", "c"])
    small = knlm.tokenizers.WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    with pytest.raises(ValueError, match="does not match the backbone's `vocabulary_size`"):
        knlm.models.SequenceClassifier(backbone, 2, tokenizer=small)
    classifier = knlm.models.SequenceClassifier(backbone, 2)
    with pytest.raises(ValueError, match="needs the classifier's `tokenizer`"):
        classifier.predict(["text"])
    classifier.compile()
    x, _, _ = next(iter(batches(tokenizer, sst2)))
    x = {k: v.numpy() for k, v in x.items()}
    bad_labels = np.full((16,), 2, "int32")
    with pytest.raises(ValueError, match=r"`labels` holds values outside \[0, 2\) \(num_classes\)"):
        classifier.fit(x, bad_labels, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`labels` holds values >= 2"):
        classifier.fit(tf.data.Dataset.from_tensors((x, bad_labels)), verbose=0)
    # No gradient of the bad batch was applied: Adam's moment estimates are still zero. (TF may
    # still run the gradient-free part of the failed step, AdamW's decoupled weight decay.)
    moments = [v for v in classifier.optimizer.variables if "momentum" in v.path]
    assert moments and all(not np.any(v.numpy()) for v in moments)


def test_text_pairs_reach_a_backbone_with_segment_embeddings(tokenizer):
    # The pair pipeline's segment ids select the segment vectors; a backbone without segment
    # embeddings takes the same batches and ignores them.
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("dev"))
    batches = knlm.data.classification_dataset(
        texts[:8], labels[:8], tokenizer, 32, batch_size=8, text_pairs=texts[8:16],
        num_classes=2, shuffle=False,
    )
    x, y, _ = next(iter(batches))
    assert set(np.unique(x["segment_ids"])) == {0, 1}
    arguments = dict(vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
                     num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0)
    paired = knlm.models.SequenceClassifier(
        knlm.models.TransformerBackbone(num_segments=2, **arguments), num_classes=2, dropout=0.0
    )
    assert "segment_ids" in paired.input
    with_segments = paired.predict(x, verbose=0)
    without = paired.predict({k: v for k, v in x.items() if k != "segment_ids"}, verbose=0)
    assert np.abs(with_segments - without).max() > 1e-4  # segment 1's vectors were added
    single = knlm.models.SequenceClassifier(
        knlm.models.TransformerBackbone(**arguments), num_classes=2, dropout=0.0
    )
    np.testing.assert_array_equal(
        single.predict(x, verbose=0),
        single.predict({k: v for k, v in x.items() if k != "segment_ids"}, verbose=0),
    )
    for model in (paired, single):
        model.compile()
        assert np.isfinite(model.fit(batches, verbose=0).history["loss"][0])
    bad = {**x, "segment_ids": x["segment_ids"].numpy() * 2}
    with pytest.raises(ValueError, match=r"`segment_ids` holds values outside \[0, 2\)"):
        paired.predict(bad, verbose=0)
