import json
import os
import shutil

import keras
import numpy as np
import pytest

from kerasnlm.models import SentenceEncoder
from kerasnlm.models import TransformerBackbone


def small_encoder(tokenizer, **kwargs):
    backbone = TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0,
    )
    return SentenceEncoder(backbone, tokenizer=tokenizer, **kwargs)


def test_minilm_sentence_embeddings_match_sentence_transformers(minilm_path, minilm_reference):
    meta, arrays = minilm_reference
    encoder = SentenceEncoder.from_pretrained(minilm_path)
    assert (encoder.pooling, encoder.normalize, encoder.sequence_length) == ("mean", True, 256)
    vectors = encoder.predict(meta["sentences"], batch_size=4)
    assert vectors.shape == (len(meta["sentences"]), 384) and vectors.dtype == np.float32
    # Accented Latin, Greek, Cyrillic, CJK, emoji, control characters, the empty string, a
    # 246-token text and a 368-token one that both stacks cut at 256 tokens.
    np.testing.assert_allclose(vectors, arrays["embeddings"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Related sentences are closer than unrelated ones.
    a, b, c = encoder.predict(["A man is playing a guitar.", "Someone plays an instrument.",
                               "The stock market fell sharply today."])
    assert a @ b > 0.4 > a @ c


def test_pooling_modes_and_normalization(tokenizer):
    texts = ["a gorgeous , witty film", "dull", "", "a film of the year and a film of the day"]
    ids = [[tokenizer.cls_id] + row[:30] + [tokenizer.sep_id] for row in tokenizer(texts).to_list()]
    width = max(map(len, ids))
    token_ids = np.array([row + [0] * (width - len(row)) for row in ids], "int32")
    inputs = {"token_ids": token_ids, "padding_mask": token_ids != 0}
    mean = small_encoder(tokenizer, normalize=False)
    sequence = keras.ops.convert_to_numpy(mean.backbone(inputs)["sequence_output"])
    real = (token_ids != 0)[:, :, None]
    np.testing.assert_allclose(
        mean.predict(texts), (sequence * real).sum(1) / real.sum(1), atol=1e-5
    )
    for pooling, expected in [
        ("cls", sequence[:, 0]),
        ("max", np.where(real, sequence, -np.inf).max(1)),
    ]:
        encoder = SentenceEncoder(
            mean.backbone, pooling=pooling, normalize=False, tokenizer=tokenizer
        )
        np.testing.assert_allclose(encoder.predict(texts), expected, atol=1e-5)
    unit = SentenceEncoder(mean.backbone, tokenizer=tokenizer)
    vectors = unit.predict(texts)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Batches are formed longest first; the answers come back in the order asked.
    np.testing.assert_allclose(unit.predict(texts[::-1], batch_size=1), vectors[::-1], atol=1e-5)


def test_each_batch_is_cut_to_its_longest_text(tokenizer):
    texts = ["dull", "a film of the year and a film of the day", "", "a gorgeous , witty film"]
    encoder = small_encoder(tokenizer)
    encoder.run_eagerly = True  # the batches' shapes, concrete
    widths, step = [], encoder.predict_step

    def recording_step(data):
        widths.append(int(data["token_ids"].shape[1]))
        return step(data)

    encoder.predict_step = recording_step
    vectors = encoder.predict(texts, batch_size=2)
    framed = sorted((len(row) + 2 for row in tokenizer(texts).to_list()), reverse=True)
    assert widths == [framed[0], framed[2]]  # longest first, two a batch
    encoder.predict_step = step
    np.testing.assert_allclose(
        vectors, np.concatenate([encoder.predict([text]) for text in texts]), atol=1e-5
    )


def test_sequence_length_cuts_long_texts(tokenizer):
    encoder = small_encoder(tokenizer, sequence_length=5)
    long, cut = "the movie was a delight from start to end", "the movie was"
    assert len(tokenizer(cut).numpy()) == 3
    np.testing.assert_allclose(encoder.predict([long]), encoder.predict([cut]), atol=1e-6)


def test_config_and_keras_file_round_trip(tokenizer, tmp_path):
    encoder = small_encoder(tokenizer, pooling="max", sequence_length=16)
    texts = ["a gorgeous , witty film", "dull"]
    encoder.save(tmp_path / "encoder.keras")
    restored = keras.models.load_model(tmp_path / "encoder.keras")
    assert isinstance(restored, SentenceEncoder)
    assert (restored.pooling, restored.normalize, restored.sequence_length) == ("max", True, 16)
    np.testing.assert_array_equal(restored.predict(texts), encoder.predict(texts))


def test_errors(tokenizer, minilm_path, tmp_path):
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        small_encoder(tokenizer, pooling="first")
    with pytest.raises(ValueError, match=r"`sequence_length` must be an int in \[2, 32\]"):
        small_encoder(tokenizer, sequence_length=64)
    encoder = small_encoder(tokenizer)
    with pytest.raises(ValueError, match="has no default loss"):
        encoder.compile()
    without_tokenizer = SentenceEncoder(encoder.backbone)
    with pytest.raises(ValueError, match="needs the encoder's `tokenizer`"):
        without_tokenizer.predict(["text"])

    folder = tmp_path / "st"
    shutil.copytree(minilm_path, folder)
    with pytest.raises(ValueError, match="holds no modules.json"):
        SentenceEncoder.from_pretrained(tmp_path)
    modules = json.loads((folder / "modules.json").read_text())
    extra = {"idx": 3, "name": "3", "path": "3_Dense",
             "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps(modules + [extra]))
    with pytest.raises(ValueError, match=r"modules \['Dense', .*only Transformer -> Pooling"):
        SentenceEncoder.from_pretrained(folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling["pooling_mode_cls_token"] = True
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(ValueError, match="pooling_mode_cls_token', 'pooling_mode_mean_tokens'"):
        SentenceEncoder.from_pretrained(folder)
    pooling["pooling_mode_mean_tokens"] = False
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert SentenceEncoder.from_pretrained(folder).pooling == "cls"
    os.remove(folder / "model.safetensors")
    with pytest.raises(ValueError, match="holds no model.safetensors"):
        SentenceEncoder.from_pretrained(folder)


def test_inputs_predict_takes_and_precision_from_the_folder(minilm_path, minilm_reference):
    meta, arrays = minilm_reference
    encoder = SentenceEncoder.from_pretrained(minilm_path)
    assert encoder.predict([]).shape == (0, 384)
    texts = np.array(meta["sentences"][:3])  # a numpy array of strings, as from pandas
    np.testing.assert_allclose(encoder.predict(texts), arrays["embeddings"][:3], atol=1e-5, rtol=0)
    # dtype and dropout reach the backbone: bfloat16 compute, float32 weights and vectors.
    mixed = SentenceEncoder.from_pretrained(minilm_path, dtype="mixed_bfloat16", dropout=0.0)
    assert mixed.backbone.embedding.compute_dtype == "bfloat16"
    assert mixed.backbone.dropout == 0.0
    vectors = mixed.predict(list(texts))
    assert vectors.dtype == np.float32
    cosine = np.sum(vectors * arrays["embeddings"][:3], axis=1)
    assert cosine.min() > 0.99, cosine
