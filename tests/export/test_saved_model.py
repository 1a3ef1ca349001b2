"""SavedModel export: every task kind served on raw strings by TensorFlow alone."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.export import saved_model as saved_model_module

SERVER = pathlib.Path(__file__).with_name("serve_without_kerasnlm.py")
SEQUENCE_LENGTH = 24
# An empty string, accents, CJK and emoji, and a text far longer than the sequence length.
TEXTS = [
    "",
    "Crème brûlée in Zürich, 東京 and São Paulo 😀 with Alice",
    " ".join(["I flew to New York with Alice and Bob ."] * 12),
    "a gorgeous , witty film",
]
LABELS = ["negative", "positive"]


def tiny_backbone(tokenizer, **kwargs):
    return knlm.models.TransformerBackbone(
        tokenizer.vocabulary_size, SEQUENCE_LENGTH, num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64, **kwargs,
    )


def sst2(tokenizer, count=64):
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    return knlm.data.classification_dataset(
        texts[:count], labels[:count], tokenizer, SEQUENCE_LENGTH, batch_size=16,
        num_classes=2, seed=0,
    )


@pytest.fixture(scope="module")
def models(tokenizer):
    """One small model of each exportable kind, trained a few steps."""
    keras.utils.set_random_seed(0)
    classifier = knlm.models.SequenceClassifier(
        tiny_backbone(tokenizer), num_classes=2, tokenizer=tokenizer, labels=LABELS
    )
    classifier.compile(learning_rate=1e-3)
    classifier.fit(sst2(tokenizer), epochs=1, verbose=0)

    words, tags = knlm.data.read_conll(knlm.data.samples.wnut17("train"))
    names = sorted({t for sentence in tags for t in sentence})
    tagger = knlm.models.TokenClassifier(
        tiny_backbone(tokenizer), num_classes=len(names), tokenizer=tokenizer, tags=names
    )
    # A sharp random head tags words all over the place: many entities, of every shape
    # (B-I runs, lone I-, type changes), to check the spans against seqeval's.
    logits = tagger.get_layer("logits")
    logits.kernel.assign(logits.kernel * 40.0)

    causal = knlm.models.CausalLanguageModel(tiny_backbone(tokenizer), tokenizer=tokenizer)
    causal.compile(learning_rate=3e-3)
    causal.fit(knlm.data.causal_lm_dataset(
        knlm.data.samples.english_text(), tokenizer, sequence_length=SEQUENCE_LENGTH,
        batch_size=8, seed=0,
    ).take(4), verbose=0)

    english, spanish = knlm.data.read_parallel(knlm.data.samples.spa_eng())
    translator = knlm.models.Seq2SeqTransformer(
        tiny_backbone(tokenizer), tokenizer=tokenizer, num_decoder_layers=1
    )
    translator.compile(learning_rate=3e-3)
    translator.fit(knlm.data.seq2seq_dataset(
        english[:64], spanish[:64], tokenizer, sequence_length=SEQUENCE_LENGTH, batch_size=16,
        seed=0,
    ), verbose=0)

    encoder = knlm.models.SentenceEncoder(tiny_backbone(tokenizer), tokenizer=tokenizer)
    return {
        "classifier": classifier, "tagger": tagger, "causal": causal,
        "translator": translator, "encoder": encoder, "backbone": encoder.backbone,
    }


MAX_LENGTH = {"causal": 16, "translator": 12}


@pytest.fixture(scope="module")
def exports(models, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    paths = {}
    for name, model in models.items():
        paths[name] = str(folder / name)
        knlm.export.export_saved_model(
            model, tokenizer if name == "backbone" else None, paths[name],
            max_length=MAX_LENGTH.get(name),
        )
    return paths


REQUESTS = [
    ("classifier", "serving_default", {"text": TEXTS}),
    ("classifier", "classify_pairs", {"text": TEXTS, "text_pair": TEXTS[::-1]}),
    ("tagger", "serving_default", {"text": TEXTS}),
    ("causal", "generate", {"text": TEXTS}),
    ("translator", "generate", {"text": TEXTS}),
    ("translator", "generate_beam", {"text": TEXTS}),
    ("encoder", "embed", {"text": TEXTS}),
    ("backbone", "embed", {"text": TEXTS}),
]


@pytest.fixture(scope="module")
def served(exports, tmp_path_factory):
    """Every request answered by a fresh process that cannot import kerasnlm or keras-hub."""
    folder = tmp_path_factory.mktemp("served")
    requests = [{"path": exports[m], "signature": s, "inputs": i} for m, s, i in REQUESTS]
    (folder / "requests.json").write_text(json.dumps(requests), encoding="utf-8")
    subprocess.run(
        [sys.executable, str(SERVER), str(folder / "requests.json"), str(folder / "answers.json")],
        check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600,
    )
    answers = json.loads((folder / "answers.json").read_text(encoding="utf-8"))
    return {(m, s): answer for (m, s, _), answer in zip(REQUESTS, answers)}


def each_alone_equals_the_batch(answer, keys, close=False):
    for i, alone in enumerate(answer["alone"]):
        for key in keys:
            ours, theirs = alone[key][0], answer["batch"][key][i]
            if close:
                np.testing.assert_allclose(ours, theirs, atol=1e-5)
            else:
                assert ours == theirs, (key, i)


def test_classifier_matches_predict(models, served):
    answer = served[("classifier", "serving_default")]
    expected = models["classifier"].predict(TEXTS)
    probabilities = [[row["probabilities"][label] for label in LABELS] for row in expected]
    np.testing.assert_allclose(answer["batch"]["probabilities"], probabilities, atol=1e-5)
    assert answer["batch"]["labels"] == [row["label"] for row in expected]
    assert answer["batch"]["class_ids"] == [LABELS.index(row["label"]) for row in expected]
    each_alone_equals_the_batch(answer, ["labels", "class_ids"])
    each_alone_equals_the_batch(answer, ["probabilities"], close=True)


def test_classifier_pairs_match_the_pair_pipeline(models, served, tokenizer):
    classifier = models["classifier"]
    batches = knlm.data.classification_dataset(
        TEXTS, [0] * len(TEXTS), tokenizer, SEQUENCE_LENGTH, text_pairs=TEXTS[::-1],
        shuffle=False,
    ).map(lambda x, y, w: x)
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(classifier.predict(batches, verbose=0))
    )
    answer = served[("classifier", "classify_pairs")]
    np.testing.assert_allclose(answer["batch"]["probabilities"], expected, atol=1e-5)


def test_tagger_matches_predict_word_for_word_and_span_for_span(models, served):
    tagger = models["tagger"]
    answer = served[("tagger", "serving_default")]["batch"]
    expected = tagger.predict(TEXTS)
    assert sum(len(row) for row in expected) > 10  # the sharp head found entities to compare
    for i, entities in enumerate(expected):
        count = answer["num_entities"][i]
        assert count == len(entities)
        assert answer["entity_types"][i][:count] == [e["type"] for e in entities]
        assert answer["entity_starts"][i][:count] == [e["start"] for e in entities]
        assert answer["entity_ends"][i][:count] == [e["end"] for e in entities]
        assert answer["entity_texts"][i][:count] == [e["text"] for e in entities]
        assert all(TEXTS[i][e["start"]:e["end"]] == e["text"] for e in entities)
    # The words raw-text predict splits, as BERT does: "Zürich," is "Zürich" and ",".
    split = knlm.data.split_words_with_offsets(tf.constant(TEXTS))[0].to_list()
    words = [[word.decode("utf-8") for word in row] for row in split]
    assert words[1][:5] == ["Crème", "brûlée", "in", "Zürich", ","]
    assert answer["num_words"] == [len(w) for w in words]
    word_tags = iter(tagger.predict_word_tags([w for w in words if w]))
    for i, row in enumerate(words):
        assert answer["tags"][i][: len(row)] == (next(word_tags) if row else [])
        assert set(answer["tags"][i][len(row):]) <= {""}
    assert "O" in answer["tags"][2]  # words past the sequence length are "O"
    # Alone, a text's outputs are padded only to its own counts.
    for i, alone in enumerate(served[("tagger", "serving_default")]["alone"]):
        count, words = alone["num_entities"][0], alone["num_words"][0]
        assert (count, words) == (answer["num_entities"][i], answer["num_words"][i])
        assert alone["tags"][0][:words] == answer["tags"][i][:words]
        for key in ("entity_types", "entity_texts", "entity_starts", "entity_ends"):
            assert alone[key][0][:count] == answer[key][i][:count]


def test_causal_lm_generates_as_generate_does(models, served):
    answer = served[("causal", "generate")]
    expected = models["causal"].generate(
        TEXTS, max_length=MAX_LENGTH["causal"], sampler="greedy", truncate=True
    )
    assert answer["batch"]["text"] == expected
    assert isinstance(answer["batch"]["text"][0], str)  # an empty prompt is answered
    each_alone_equals_the_batch(answer, ["text"])


@pytest.mark.parametrize("signature, sampler", [("generate", "greedy"), ("generate_beam", "beam")])
def test_translator_generates_as_generate_does(models, served, signature, sampler):
    answer = served[("translator", signature)]
    expected = models["translator"].generate(
        TEXTS, max_length=MAX_LENGTH["translator"], sampler=sampler, truncate=True
    )
    assert answer["batch"]["text"] == expected
    each_alone_equals_the_batch(answer, ["text"])


@pytest.mark.parametrize("name", ["encoder", "backbone"])
def test_embeddings_match_the_sentence_encoder(models, served, name):
    answer = served[(name, "embed")]
    expected = models["encoder"].predict(TEXTS)
    np.testing.assert_allclose(answer["batch"]["embeddings"], expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-5)
    each_alone_equals_the_batch(answer, ["embeddings"], close=True)


def test_tokenized_signatures_run_the_model_on_ids(models, exports, tokenizer):
    batch = next(iter(sst2(tokenizer, 16)))[0]
    loaded = tf.saved_model.load(exports["classifier"])
    answer = loaded.signatures["tokenized"](
        token_ids=batch["token_ids"], padding_mask=tf.cast(batch["padding_mask"], tf.int32)
    )
    np.testing.assert_allclose(
        answer["logits"], keras.ops.convert_to_numpy(models["classifier"](batch)), atol=1e-5
    )
    loaded = tf.saved_model.load(exports["encoder"])
    answer = loaded.signatures["tokenized"](
        token_ids=batch["token_ids"], padding_mask=tf.cast(batch["padding_mask"], tf.int32)
    )
    np.testing.assert_allclose(
        answer["embeddings"], keras.ops.convert_to_numpy(models["encoder"](batch)), atol=1e-5
    )


# The CLI's own entry point, run once per folder in one process: one TensorFlow import for all
# the exports instead of one per folder.
SAVED_MODEL_CLI = """
import sys
from tensorflow.python.tools import saved_model_cli

for path in sys.argv[1:]:
    print("\\nkerasnlm-test-folder " + path, flush=True)
    sys.argv = ["saved_model_cli", "show", "--dir", path, "--all"]
    try:
        saved_model_cli.main()
    except SystemExit as exit:  # absl's app.run ends every command with sys.exit
        if exit.code:
            raise
    sys.stdout.flush()
"""


def test_saved_model_cli_shows_string_inputs_and_no_invalid_dtype(exports):
    shown = subprocess.run(
        [sys.executable, "-c", SAVED_MODEL_CLI, *exports.values()], capture_output=True,
        text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300,
    ).stdout
    blocks = shown.split("\nkerasnlm-test-folder ")[1:]
    assert [block.split("\n", 1)[0] for block in blocks] == list(exports.values())
    for name, block in zip(exports, blocks):
        signatures = {
            part.split("'", 1)[0]: part for part in block.split("signature_def['")[1:]
        }
        del signatures["__saved_model_init_op"]  # TensorFlow's own, in every SavedModel
        assert "serving_default" in signatures and len(signatures) >= 2, name
        for signature, text in signatures.items():
            assert "DT_INVALID" not in text, (name, signature)
            if signature != "tokenized":
                assert "dtype: DT_STRING" in text.split("output(s)")[0], (name, signature)


def test_the_metadata_describes_the_export(exports, models):
    with open(os.path.join(exports["classifier"], "assets", "kerasnlm.json")) as f:
        metadata = json.load(f)
    assert metadata["task"] == "SequenceClassifier" and metadata["labels"] == LABELS
    assert metadata["kerasnlm_version"] == knlm.__version__
    assert metadata["signatures"]["serving_default"]["inputs"] == {
        "text": {"dtype": "string", "shape": [None]}
    }
    assert metadata["signatures"]["serving_default"]["outputs"]["probabilities"] == {
        "dtype": "float32", "shape": [None, 2]
    }
    vocabulary = pathlib.Path(exports["classifier"], "assets", "vocab.txt").read_text().split("\n")
    assert vocabulary[: models["classifier"].tokenizer.vocabulary_size] == (
        models["classifier"].tokenizer.get_vocabulary()
    )
    with open(os.path.join(exports["translator"], "assets", "kerasnlm.json")) as f:
        assert json.load(f)["max_length"] == MAX_LENGTH["translator"]


def test_an_existing_path_is_refused_unless_overwrite(models, exports):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        knlm.export.export_saved_model(models["encoder"], path=exports["encoder"])
    knlm.export.export_saved_model(models["encoder"], path=exports["encoder"], overwrite=True)
    assert tf.saved_model.load(exports["encoder"]).signatures["embed"] is not None
    leftovers = [p for p in os.listdir(os.path.dirname(exports["encoder"])) if p.startswith(".")]
    assert leftovers == []


def test_a_failed_export_leaves_nothing_at_the_path(models, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(saved_model_module, "_write_assets", fail)
    with pytest.raises(OSError, match="injected"):
        knlm.export.export_saved_model(models["encoder"], path=tmp_path / "encoder")
    assert os.listdir(tmp_path) == []  # neither the path nor a partial folder


KILLED_EXPORT = """
import os, signal, sys
import kerasnlm as knlm
from kerasnlm.export import saved_model

tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
backbone = knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 16, num_layers=1,
                                           num_heads=2, hidden_dim=16, intermediate_dim=32)
def killed(partial, path):  # the moment the complete export would be moved into place
    os.kill(os.getpid(), signal.SIGKILL)
saved_model._replace = killed
knlm.export.export_saved_model(backbone, tokenizer, sys.argv[1])
"""


def test_a_kill_during_export_never_leaves_a_loadable_folder_at_the_path(tmp_path):
    target = tmp_path / "exported"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_EXPORT, str(target)], timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == -signal.SIGKILL
    assert not target.exists()
    partial = [p for p in os.listdir(tmp_path) if p.startswith(".exported.partial-")]
    assert len(partial) == 1  # the complete but unrenamed export, under its hidden name


def test_a_mixed_precision_classifier_exports_float32_outputs(tokenizer, tmp_path):
    classifier = knlm.models.SequenceClassifier(
        tiny_backbone(tokenizer, dtype="mixed_bfloat16"), num_classes=2, tokenizer=tokenizer
    )
    classifier.compile(jit_compile=True)
    classifier.fit(sst2(tokenizer, 16), verbose=0)
    knlm.export.export_saved_model(classifier, path=tmp_path / "mixed")
    answer = tf.saved_model.load(str(tmp_path / "mixed")).signatures["serving_default"](
        text=tf.constant(TEXTS)
    )
    assert answer["probabilities"].dtype == tf.float32
    predicted = classifier.predict(TEXTS)
    expected = [[row["probabilities"][c] for c in ("0", "1")] for row in predicted]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-2)
    assert [s.decode() for s in answer["labels"].numpy()] == [row["label"] for row in predicted]


def test_bad_arguments_give_one_clear_error(models, tokenizer, tmp_path):
    bare = knlm.models.SequenceClassifier(tiny_backbone(tokenizer), num_classes=2)
    with pytest.raises(ValueError, match="needs its tokenizer"):
        knlm.export.export_saved_model(bare, path=tmp_path / "a")
    with pytest.raises(ValueError, match="names 3 classes, but the model has 2"):
        knlm.export.export_saved_model(models["classifier"], path=tmp_path / "b", labels="abc")
    with pytest.raises(ValueError, match="MaskedLanguageModel is a pretraining model"):
        knlm.export.export_saved_model(
            knlm.models.MaskedLanguageModel(models["encoder"].backbone), tokenizer, tmp_path / "c"
        )
    with pytest.raises(ValueError, match="`max_length` must be an int in \\[2, 24\\]"):
        knlm.export.export_saved_model(models["causal"], path=tmp_path / "d", max_length=100)
    with pytest.raises(ValueError, match="`max_length` is for generating models"):
        knlm.export.export_saved_model(models["classifier"], path=tmp_path / "e", max_length=8)
    with pytest.raises(ValueError, match="Cannot export a Functional"):
        inputs = keras.Input((3,))
        knlm.export.export_saved_model(keras.Model(inputs, inputs), path=tmp_path / "f")
    with pytest.raises(TypeError, match="`path` must be a folder path"):
        knlm.export.export_saved_model(models["classifier"], path=None)
    assert os.listdir(tmp_path) == []
