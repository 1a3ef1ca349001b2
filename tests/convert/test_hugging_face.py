"""Hugging Face BERT folders: parity with the PyTorch reference, round trip, bad folders."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors.numpy import save_file

import kerasnlm as knlm
from kerasnlm.models import TransformerBackbone
from kerasnlm.tokenizers import WordPieceTokenizer


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return TransformerBackbone.from_pretrained(minilm_path)


def hidden_states(backbone, ids):
    ids = np.array([ids], "int32")
    outputs = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)})
    return keras.ops.convert_to_numpy(outputs["sequence_output"])[0]


def test_config_read_from_the_folder(minilm):
    config = minilm.get_config()
    assert {k: config[k] for k in (
        "vocabulary_size", "sequence_length", "num_layers", "num_heads", "hidden_dim",
        "intermediate_dim", "activation", "layer_norm_epsilon", "num_segments",
        "normalize_embeddings", "use_pooler", "normalize_first", "position_encoding",
    )} == {
        "vocabulary_size": 30522, "sequence_length": 512, "num_layers": 6, "num_heads": 12,
        "hidden_dim": 384, "intermediate_dim": 1536, "activation": "gelu",
        "layer_norm_epsilon": 1e-12, "num_segments": 2, "normalize_embeddings": True,
        "use_pooler": True, "normalize_first": False, "position_encoding": "learned",
    }
    assert minilm.count_params() == 22_713_216  # BertModel's parameter count


def test_last_hidden_states_match_the_pytorch_reference(minilm, minilm_reference):
    meta, arrays = minilm_reference
    checked = 0
    for i, ids in enumerate(meta["token_ids"]):
        step = meta["hidden_step"]["up_to_64_tokens" if len(ids) <= 64 else "longer"]
        ours = hidden_states(minilm, ids)[::step]
        np.testing.assert_allclose(ours, arrays[f"hidden_{i}"], atol=1e-4, rtol=0)
        checked += ours.size
    assert checked > 100_000 and max(len(ids) for ids in meta["token_ids"]) > 256


def test_padding_and_batching_do_not_change_real_token_vectors(minilm, minilm_reference):
    meta, arrays = minilm_reference
    rows = [meta["token_ids"][i] for i in (0, 1, 6)]
    width = max(map(len, rows))
    ids = np.array([r + [0] * (width - len(r)) for r in rows], "int32")
    out = minilm({"token_ids": ids, "padding_mask": ids != 0})["sequence_output"]
    for row, i in zip(keras.ops.convert_to_numpy(out), (0, 1, 6)):
        length = len(meta["token_ids"][i])
        np.testing.assert_allclose(row[:length], arrays[f"hidden_{i}"], atol=1e-4, rtol=0)


def test_save_pretrained_then_from_pretrained_is_exact(minilm, minilm_path, tmp_path):
    tokenizer = WordPieceTokenizer.from_pretrained(minilm_path)
    minilm.save_pretrained(tmp_path, tokenizer=tokenizer)
    assert sorted(os.listdir(tmp_path)) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json",
        "vocab.txt",
    ]
    # The same tensors, names and config fields as the original folder.
    original = load_file(os.path.join(minilm_path, "model.safetensors"))
    original.pop("embeddings.position_ids")
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(saved) == sorted(original)
    for name, value in original.items():
        np.testing.assert_array_equal(saved[name], value, err_msg=name)
    config = json.loads((tmp_path / "config.json").read_text())
    with open(os.path.join(minilm_path, "config.json")) as f:
        original_config = json.load(f)
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "max_position_embeddings", "type_vocab_size",
                "layer_norm_eps", "model_type"):
        assert config[key] == original_config[key], key

    reloaded = TransformerBackbone.from_pretrained(tmp_path)
    assert reloaded.get_config() | {"name": None} == minilm.get_config() | {"name": None}
    for a, b in zip(reloaded.weights, minilm.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    ids = [101, 7592, 2088, 102]
    np.testing.assert_array_equal(hidden_states(reloaded, ids), hidden_states(minilm, ids))


def test_save_pretrained_refuses_what_bert_cannot_hold(tmp_path):
    scratch = TransformerBackbone(
        vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, normalize_first=True, position_encoding="sinusoidal",
        position_bias="alibi",
    )
    with pytest.raises(
        ValueError, match="sinusoidal.*position_bias='alibi'.*normalize_first=True.*normalize_emb"
    ):
        scratch.save_pretrained(tmp_path)
    assert not os.listdir(tmp_path)
    # BERT-shaped without segments: saved with two all-zero segment vectors, same outputs.
    bert_like = TransformerBackbone(
        vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, normalize_embeddings=True, activation="gelu_approximate",
    )
    bert_like.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["type_vocab_size"], config["hidden_act"]) == (2, "gelu_new")
    reloaded = TransformerBackbone.from_pretrained(tmp_path)
    assert (reloaded.num_segments, reloaded.use_pooler) == (2, False)
    np.testing.assert_array_equal(
        hidden_states(reloaded, [2, 7, 9, 3]), hidden_states(bert_like, [2, 7, 9, 3])
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_checkpoints_load_into_float32_weights(dtype, tmp_path):
    import ml_dtypes

    bert_like = TransformerBackbone(
        vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, num_segments=2, normalize_embeddings=True, use_pooler=True,
    )
    bert_like.save_pretrained(tmp_path)
    half = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    rewrite_weights(tmp_path, lambda tensors: tensors.update(
        {name: value.astype(half) for name, value in tensors.items()}
    ))
    loaded = TransformerBackbone.from_pretrained(tmp_path)
    assert all(w.dtype == "float32" for w in loaded.weights)
    for a, b in zip(loaded.weights, bert_like.weights):
        expected = keras.ops.convert_to_numpy(b).astype(half).astype("float32")
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), expected)
    # And any folder loads to compute at mixed precision (float32 weights and outputs).
    mixed = TransformerBackbone.from_pretrained(tmp_path, dtype="mixed_bfloat16")
    assert mixed.embedding.compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in mixed.weights)
    np.testing.assert_allclose(
        hidden_states(mixed, [2, 7, 9, 3]), hidden_states(loaded, [2, 7, 9, 3]), atol=0.1
    )


@pytest.fixture
def folder_copy(minilm_path, tmp_path):
    """A writable copy of the MiniLM folder's config and weights."""
    folder = tmp_path / "bert"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(minilm_path, name), folder / name)
    return folder


def rewrite_weights(folder, change):
    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


def rewrite_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def test_missing_mis_shaped_and_unexpected_tensors_are_named(folder_copy):
    def damage(tensors):
        del tensors["encoder.layer.3.attention.self.key.weight"]
        tensors["encoder.layer.0.output.dense.bias"] = np.zeros(383, "float32")
        tensors["encoder.layer.9.output.dense.bias"] = np.zeros(384, "float32")

    rewrite_weights(folder_copy, damage)
    with pytest.raises(ValueError) as error:
        TransformerBackbone.from_pretrained(folder_copy)
    message = str(error.value)
    assert "1 missing tensor(s):\n    encoder.layer.3.attention.self.key.weight" in message
    assert "encoder.layer.0.output.dense.bias is (383,), expected (384,)" in message
    assert "1 unexpected tensor(s):\n    encoder.layer.9.output.dense.bias" in message


def test_a_config_that_disagrees_with_the_weights_is_named(folder_copy):
    rewrite_config(folder_copy, vocab_size=30000)
    with pytest.raises(ValueError, match=r"embeddings.word_embeddings.weight is \(30522, 384\), "
                                         r"expected \(30000, 384\)"):
        TransformerBackbone.from_pretrained(folder_copy)
    rewrite_config(folder_copy, vocab_size=30522, num_hidden_layers=7)
    with pytest.raises(ValueError, match=r"16 missing tensor\(s\):\n    encoder.layer.6"):
        TransformerBackbone.from_pretrained(folder_copy)
    rewrite_config(folder_copy, num_hidden_layers=5)
    with pytest.raises(ValueError, match=r"16 unexpected tensor\(s\):\n    encoder.layer.5"):
        TransformerBackbone.from_pretrained(folder_copy)


def test_unsupported_or_unreadable_folders(folder_copy, tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        TransformerBackbone.from_pretrained(tmp_path / "nowhere")
    rewrite_config(folder_copy, hidden_act="silu")
    with pytest.raises(ValueError, match="`hidden_act` 'silu' is not supported"):
        TransformerBackbone.from_pretrained(folder_copy)
    rewrite_config(folder_copy, hidden_act="gelu", model_type="roberta")
    with pytest.raises(ValueError, match="`model_type` is 'roberta'; only BERT"):
        TransformerBackbone.from_pretrained(folder_copy)
    rewrite_config(folder_copy, model_type="bert")
    os.rename(folder_copy / "model.safetensors", folder_copy / "pytorch_model.bin")
    with pytest.raises(ValueError, match="no model.safetensors. It holds pytorch_model.bin"):
        TransformerBackbone.from_pretrained(folder_copy)
    (folder_copy / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        TransformerBackbone.from_pretrained(folder_copy)
    (folder_copy / "config.json").write_text("{")
    with pytest.raises(ValueError, match="config.json' is not valid JSON"):
        TransformerBackbone.from_pretrained(folder_copy)


def test_pretraining_checkpoint_names_are_understood(minilm, folder_copy):
    # BertForPreTraining folders prefix "bert.", older ones call LayerNorm weights gamma/beta,
    # and carry pretraining heads ("cls.") that a backbone has no place for.
    def rename(tensors):
        for name in list(tensors):
            new = "bert." + name.replace("LayerNorm.weight", "LayerNorm.gamma")
            tensors[new] = tensors.pop(name)
        tensors["cls.predictions.bias"] = np.zeros(30522, "float32")

    rewrite_weights(folder_copy, rename)
    with pytest.warns(UserWarning, match=r"skipped 1 tensors of task heads .*cls.predictions.bias"):
        backbone = TransformerBackbone.from_pretrained(folder_copy)
    assert backbone.use_pooler
    for a, b in zip(backbone.weights, minilm.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    ids = [101, 7592, 2088, 102]
    np.testing.assert_array_equal(hidden_states(backbone, ids), hidden_states(minilm, ids))


def test_classifier_heads_are_skipped_and_the_layout_cannot_be_overridden(minilm, folder_copy):
    # A BertForSequenceClassification folder: its head is left to the task model.
    rewrite_weights(folder_copy, lambda tensors: tensors.update({
        "classifier.weight": np.zeros((2, 384), "float32"),
        "classifier.bias": np.zeros(2, "float32"),
    }))
    with pytest.warns(UserWarning, match="skipped 2 tensors .*classifier.bias, classifier.weight"):
        backbone = TransformerBackbone.from_pretrained(folder_copy, dropout=0.0, name="bert")
    assert (backbone.dropout, backbone.name) == (0.0, "bert")
    # Asked to, the pooler is left out, and its tensors with it (no "unexpected tensors").
    with pytest.warns(UserWarning, match="skipped 2 tensors"):
        without_pooler = TransformerBackbone.from_pretrained(folder_copy, use_pooler=False)
    assert without_pooler.pooler_dense is None
    assert len(without_pooler.weights) == len(minilm.weights) - 2
    # Sizes come from the checkpoint; asking for others is an error, not a silent mismatch.
    with pytest.raises(ValueError, match=r"cannot change \['hidden_dim', 'num_layers'\]"):
        TransformerBackbone.from_pretrained(folder_copy, num_layers=2, hidden_dim=128)


def test_save_pretrained_replaces_an_earlier_save(minilm, minilm_path, tmp_path):
    # Left behind, a sharded index or a tokenizer.json would be read before the new files.
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"pooler.dense.bias": "model-00001-of-00002.safetensors"}}
    ))
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"old")
    (tmp_path / "tokenizer.json").write_text("{}")
    minilm.save_pretrained(tmp_path, tokenizer=WordPieceTokenizer.from_pretrained(minilm_path))
    assert sorted(os.listdir(tmp_path)) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json",
        "vocab.txt",
    ]
    reloaded = TransformerBackbone.from_pretrained(tmp_path)
    ids = [101, 7592, 2088, 102]
    np.testing.assert_array_equal(hidden_states(reloaded, ids), hidden_states(minilm, ids))


def test_every_task_model_accepts_the_pretrained_backbone(minilm_path):
    """A classifier fine-tunes the whole loaded model (one step, real SST-2 text); the other
    task models are built on the same backbone and run."""
    backbone = TransformerBackbone.from_pretrained(minilm_path)
    tokenizer = WordPieceTokenizer.from_pretrained(minilm_path)
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    batches = knlm.data.classification_dataset(
        texts[:16], labels[:16], tokenizer, sequence_length=32, batch_size=16, num_classes=2,
        seed=0,
    )
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"]
    )
    # One eager step: tracing MiniLM's training graph costs ~20 s for a single step. (Graph-mode
    # fine-tuning of this backbone runs in notebooks/07, which checks that the weights moved.)
    classifier.compile(learning_rate=5e-5, run_eagerly=True)
    embedding = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings).copy()
    history = classifier.fit(batches, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    moved = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings) - embedding
    assert np.abs(moved).max() > 0  # the pretrained embedding itself was fine-tuned
    assert classifier.predict(["a gorgeous , witty film"])[0]["label"] in ("negative", "positive")

    ids = {"token_ids": np.array([[101, 7592, 103, 102]], "int32"),
           "padding_mask": np.ones((1, 4), bool)}
    tagger = knlm.models.TokenClassifier(backbone, num_classes=3)
    mlm = knlm.models.MaskedLanguageModel(backbone)
    # Each runs, and takes BERT's segment ids (the second text of a pair reads segment 1); left
    # out, they are zeros, as for one text. (Called directly: a `predict` would only add the
    # tracing of one more graph per model.)
    pair = {**ids, "segment_ids": np.array([[0, 0, 1, 1]], "int32")}
    for model, extra, shape in (
        (tagger, {}, (1, 4, 3)),
        (mlm, {"mask_positions": np.array([[2]], "int32")}, (1, 1, 30522)),
    ):
        assert "segment_ids" in model.input
        single = keras.ops.convert_to_numpy(model({**ids, **extra}))
        assert single.shape == shape
        zeros = {**ids, **extra, "segment_ids": np.zeros((1, 4), "int32")}
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(zeros)), single)
        assert not np.allclose(keras.ops.convert_to_numpy(model({**pair, **extra})), single)
    clm = knlm.models.CausalLanguageModel(backbone, tokenizer=tokenizer)
    assert isinstance(clm.generate(["the movie was"], max_length=8, sampler="greedy")[0], str)
    translator = knlm.models.Seq2SeqTransformer(backbone, tokenizer=tokenizer, num_decoder_layers=1)
    assert isinstance(translator.generate(["hello"], max_length=6)[0], str)
    # One embedding matrix under them all.
    for model in (classifier, tagger, mlm, clm, translator):
        assert model.backbone.token_embedding.embeddings is backbone.token_embedding.embeddings
