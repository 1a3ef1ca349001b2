import keras
import keras_hub
import numpy as np
import pytest

import kerasnlm as knlm

samples = knlm.data.samples
ENGLISH, SPANISH = knlm.data.read_parallel(samples.spa_eng())


@pytest.fixture(scope="module")
def tokenizers():
    english = knlm.tokenizers.WordPieceTokenizer.train(ENGLISH[:3000], 1500, seed=0)
    spanish = knlm.tokenizers.WordPieceTokenizer.train(SPANISH[:3000], 1500, seed=0)
    return english, spanish


@pytest.fixture(scope="module")
def memorized(tokenizers):
    """A small translator fitted until it reproduces 48 real training pairs."""
    english, spanish = tokenizers
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        english.vocabulary_size, sequence_length=24, num_layers=1, num_heads=4, hidden_dim=64,
        intermediate_dim=128, dropout=0.0, normalize_first=True,
    )
    model = knlm.models.Seq2SeqTransformer(
        backbone, tokenizer=english, target_tokenizer=spanish, target_sequence_length=20
    )
    model.compile(learning_rate=3e-3)
    pairs = [i for i, s in enumerate(ENGLISH) if len(s.split()) <= 5][:48]
    sources, targets = [ENGLISH[i] for i in pairs], [SPANISH[i] for i in pairs]
    data = knlm.data.seq2seq_dataset(
        sources, targets, english, sequence_length=24, target_sequence_length=20,
        target_tokenizer=spanish, batch_size=16, seed=0,
    )
    # One iterator for all 60 epochs of 3 batches: restarting the tokenizing pipeline every
    # epoch cost more than the training itself.
    history = model.fit(data.repeat(), steps_per_epoch=3, epochs=60, verbose=0)
    return model, sources, targets, history


def normalized(texts, tokenizer):
    """Targets as the tokenizer gives them back (lower case, pieces joined)."""
    return [
        t.decode("utf-8")
        for t in keras.ops.convert_to_numpy(
            tokenizer.detokenize(tokenizer(texts), skip_special_tokens=True)
        ).tolist()
    ]


def test_learns_to_translate_its_training_pairs(memorized, tokenizers):
    model, sources, targets, history = memorized
    losses = history.history["loss"]
    assert losses[-1] < 0.25 * losses[0]
    greedy = model.generate(sources, sampler="greedy")
    expected = normalized(targets, tokenizers[1])
    exact = np.mean([g == e for g, e in zip(greedy, expected)])
    assert exact > 0.8, list(zip(greedy, expected))[:5]
    scores = model.evaluate_bleu(sources, targets, sampler="greedy")
    assert scores["references"] == expected and scores["hypotheses"] == greedy
    assert scores["bleu"] > 70
    assert scores["signature"].startswith("nrefs:1")


def test_cached_decoding_agrees_with_the_full_pass(memorized):
    """Greedy tokens from the cached loop are the argmax of the full teacher-forced pass."""
    model, sources, _, _ = memorized
    source_ids = model._encode_sources(sources[:8])
    ids = model.generate(source_ids, sampler="greedy", stop_at_end=False)
    logits = model.predict_on_batch(
        {
            "encoder_token_ids": source_ids,
            "encoder_padding_mask": source_ids != 0,
            "decoder_token_ids": ids[:, :-1],
            "decoder_padding_mask": np.ones_like(ids[:, :-1]),
        }
    )
    allowed = knlm.models.generation.allowed_tokens(logits.shape[-1], model.target_tokenizer)
    np.testing.assert_array_equal(np.where(allowed, logits, -1e9).argmax(-1), ids[:, 1:])


def test_beam_search_with_one_beam_equals_greedy(memorized, tokenizers):
    model, sources, targets, _ = memorized
    greedy = model.generate(sources[:16], sampler="greedy")
    one_beam = model.generate(sources[:16], sampler=keras_hub.samplers.BeamSampler(num_beams=1))
    assert one_beam == greedy
    # Four beams also find the memorized translations.
    beams = model.generate(sources[:16], sampler=keras_hub.samplers.BeamSampler(num_beams=4))
    expected = normalized(targets[:16], tokenizers[1])
    assert np.mean([b == e for b, e in zip(beams, expected)]) > 0.8


def test_beam_search_over_batches_of_many_source_lengths(memorized):
    # A beam search loop traced for one source length once failed on the third: TensorFlow's
    # relaxed trace left the length unknown, which keras-hub's beam reordering cannot keep.
    model, sources, _, _ = memorized
    english = ENGLISH[:500]
    lengths = model.tokenizer(english).row_lengths().numpy()
    batches = [[s for s, n in zip(english, lengths) if n == length][:3] for length in range(3, 15)]
    batches = [b for b in batches if b][:5]
    assert len(batches) == 5
    beam = keras_hub.samplers.BeamSampler(num_beams=2)
    for batch in batches:
        outputs = model.generate(batch, sampler=beam)
        assert len(outputs) == len(batch) and all(isinstance(o, str) for o in outputs)
    # Padding the sources (to few lengths, compiled once each) changes no translation.
    assert model.generate(sources[:4] + [english[0]], sampler=beam)[:4] == model.generate(
        sources[:4], sampler=beam)


def test_layerwise_decay_leaves_the_new_decoder_at_the_full_rate(memorized):
    model = memorized[0]
    optimizer = knlm.training.LayerwiseDecayAdamW(1e-3, num_layers=1, layer_decay=0.5)
    scales = {v.path: optimizer.learning_rate_scale(v.path) for v in model.trainable_variables}
    assert scales["token_embedding/embeddings"] == 0.25  # the pretrained encoder's
    assert scales["decoder_embedding/token_embedding/embeddings"] == 1.0  # new: full rate
    assert all(scale == 1.0 for path, scale in scales.items() if path.startswith("decoder_"))


def test_mixed_precision_trains_and_decodes(tokenizers, tmp_path):
    english, spanish = tokenizers
    backbone = knlm.models.TransformerBackbone(
        english.vocabulary_size, 16, num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64, dtype="mixed_bfloat16",
    )
    model = knlm.models.Seq2SeqTransformer(backbone, tokenizer=english, target_tokenizer=spanish)
    assert all(layer.compute_dtype == "bfloat16" for layer in model.decoder_layers)
    assert all(v.dtype == "float32" for v in model.weights)
    model.compile()
    data = knlm.data.seq2seq_dataset(
        ENGLISH[:32], SPANISH[:32], english, sequence_length=16, target_tokenizer=spanish,
        batch_size=16, seed=0,
    )
    history = model.fit(data.repeat(), steps_per_epoch=2, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    predictions = model.predict_on_batch(next(iter(data))[0])
    assert keras.ops.convert_to_numpy(predictions).dtype == "float32"
    for sampler in ("greedy", keras_hub.samplers.BeamSampler(num_beams=2)):
        assert len(model.generate(["I am hungry.", "Tom left."], sampler=sampler)) == 2
    model.save(tmp_path / "mixed.keras")
    loaded = keras.models.load_model(tmp_path / "mixed.keras")
    assert loaded.decoder_layers[0].compute_dtype == "bfloat16"
    assert loaded.backbone.encoder_layers[0].compute_dtype == "bfloat16"


def test_save_and_load_round_trip(memorized, tmp_path):
    model, sources, _, _ = memorized
    path = str(tmp_path / "translator.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.target_tokenizer.get_vocabulary() == model.target_tokenizer.get_vocabulary()
    assert loaded.generate(sources[:6]) == model.generate(sources[:6])
    assert loaded.get_config() == model.get_config()


def test_shared_vocabulary_shares_one_embedding_by_reference(tmp_path):
    tokenizer = knlm.tokenizers.WordPieceTokenizer.train(ENGLISH[:500] + SPANISH[:500], 800)
    backbone = knlm.models.TransformerBackbone(
        tokenizer.vocabulary_size, 16, num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64,
    )
    model = knlm.models.Seq2SeqTransformer(backbone, tokenizer=tokenizer)
    matrix = backbone.token_embedding.embeddings
    assert model.shares_embedding and model.decoder_embedding is backbone.embedding
    assert model.head.token_embedding.embeddings is matrix
    assert sum(v is matrix for v in model.weights) == 1
    # A pretraining model on the same backbone sees what fine-tuning the translator changes.
    mlm = knlm.models.MaskedLanguageModel(backbone)
    model.compile(learning_rate=1e-2)
    before = keras.ops.convert_to_numpy(mlm.head.token_embedding.embeddings).copy()
    data = knlm.data.seq2seq_dataset(
        ENGLISH[:32], SPANISH[:32], tokenizer, sequence_length=16, batch_size=16, seed=0
    )
    model.fit(data, epochs=1, verbose=0)
    assert not np.array_equal(
        keras.ops.convert_to_numpy(mlm.head.token_embedding.embeddings), before
    )
    path = str(tmp_path / "shared.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.head.token_embedding.embeddings is loaded.backbone.token_embedding.embeddings
    batch = next(iter(data))[0]
    np.testing.assert_allclose(
        loaded.predict_on_batch(batch), model.predict_on_batch(batch), atol=1e-6
    )


def test_bad_input(tokenizers):
    english, spanish = tokenizers
    backbone = knlm.models.TransformerBackbone(
        english.vocabulary_size, 16, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64
    )
    with pytest.raises(ValueError, match="`target_sequence_length` \\(32\\) exceeds"):
        knlm.models.Seq2SeqTransformer(backbone, target_sequence_length=32)
    with pytest.raises(
        ValueError, match="`num_decoder_layers` must be a positive integer; received 0"
    ):
        knlm.models.Seq2SeqTransformer(backbone, num_decoder_layers=0)
    with pytest.raises(ValueError, match="target tokenizer's vocabulary"):
        knlm.models.Seq2SeqTransformer(backbone, target_tokenizer=spanish, target_vocabulary_size=7)
    with pytest.raises(ValueError, match="tokenizer's vocabulary .* does not match"):
        small = knlm.tokenizers.WordPieceTokenizer.train(ENGLISH[:300], 300)
        knlm.models.Seq2SeqTransformer(backbone, tokenizer=small)
    model = knlm.models.Seq2SeqTransformer(backbone, tokenizer=english, target_tokenizer=spanish)
    assert [type(t) for t in model.generate(["", "hello"], max_length=6)] == [str, str]  # answered
    with pytest.raises(
        ValueError, match="Source 0 is .* pieces long; the encoder takes at most 14"
    ):
        model.generate([" ".join(["word"] * 20)])
    with pytest.raises(ValueError, match="`max_length` must be an int in \\[2, target_sequence"):
        model.generate(["hello"], max_length=40)
    ids_only = knlm.models.Seq2SeqTransformer(backbone, target_vocabulary_size=300)
    with pytest.raises(ValueError, match="String sources need the model's `tokenizer`"):
        ids_only.generate(["hello"])
    with pytest.raises(ValueError, match="pass `start_id`"):
        ids_only.generate(np.array([[2, 5, 3]]))
    with pytest.raises(ValueError, match="`sampler` must be one of"):
        model.generate(["hello"], sampler="nucleus")
    with pytest.raises(ValueError, match="sources"):
        model.generate(np.array([[2, english.vocabulary_size + 5, 3]]))
    with pytest.raises(TypeError, match="sources"):
        model.generate(np.array([[2.0, 5.0, 3.0]]))
    model = knlm.models.Seq2SeqTransformer(backbone, tokenizer=english, target_tokenizer=small)
    model.compile()
    data = knlm.data.seq2seq_dataset(
        ENGLISH[:16], SPANISH[:16], english, sequence_length=16, batch_size=8
    )  # targets tokenized with a larger vocabulary than the model's target vocabulary
    with pytest.raises(Exception, match="decoder_token_ids"):
        model.fit(data, verbose=0)
