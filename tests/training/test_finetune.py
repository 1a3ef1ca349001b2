import json
import os
import warnings

import keras
import numpy as np
import pytest
import yaml

import kerasnlm as knlm
from kerasnlm.cli.main import main

samples = knlm.data.samples
TINY = dict(num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tokenizer):
    """A tiny 'pretrained' backbone saved as a pretraining run leaves it: backbone.keras and
    vocab.txt side by side."""
    folder = tmp_path_factory.mktemp("pretrained")
    keras.utils.set_random_seed(1)
    backbone = knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 48, **TINY)
    backbone.save(folder / "backbone.keras")
    tokenizer.save_vocabulary(str(folder / "vocab.txt"))
    return str(folder / "backbone.keras"), backbone


def weights_by_path(model):
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


def test_classification_from_a_pretrained_backbone_keeps_the_best_dev_epoch(pretrained, tmp_path):
    path, original = pretrained
    config = knlm.training.FinetuneConfig(
        task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
        output_dir=str(tmp_path), backbone=path, sequence_length=48, epochs=3,
        learning_rate=1e-3, max_train_examples=320, bucket_by_length=True, verbose=0,
    )
    model, results = knlm.training.finetune(config)
    assert isinstance(model, knlm.models.SequenceClassifier)
    assert model.labels == ["0", "1"]
    with open(tmp_path / "history.csv") as f:
        rows = f.read().splitlines()[1:]
    header = open(tmp_path / "history.csv").readline().strip().split(",")
    dev_accuracy = [float(row.split(",")[header.index("val_accuracy")]) for row in rows]
    assert len(dev_accuracy) == 3
    np.testing.assert_allclose(results["dev"]["accuracy"], max(dev_accuracy), atol=1e-6)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["dev"]["accuracy"] == results["dev"]["accuracy"]
    # The whole model was fine-tuned, embeddings included.
    before, after = weights_by_path(original), weights_by_path(model.backbone)
    assert not np.array_equal(before["token_embedding/embeddings"],
                              after["token_embedding/embeddings"])
    assert all(not np.array_equal(before[p], after[p]) for p in before if "encoder_1" in p)


def test_a_hugging_face_folder_as_the_backbone(tokenizer, tmp_path):
    # A BERT folder (as save_pretrained writes it, or a sentence-transformers model) brings its
    # own tokenizer; the command line fine-tunes it like a saved backbone.
    keras.utils.set_random_seed(2)
    bert = knlm.models.TransformerBackbone(
        tokenizer.vocabulary_size, 48, **TINY, num_segments=2, normalize_embeddings=True,
        use_pooler=True,
    )
    cased = knlm.tokenizers.WordPieceTokenizer(tokenizer.get_vocabulary(), lowercase=False)
    bert.save_pretrained(tmp_path / "bert", tokenizer=cased)
    config = {
        "task": "classification", "train": samples.sst2("train"), "dev": samples.sst2("dev"),
        "output_dir": str(tmp_path / "run"), "backbone": str(tmp_path / "bert"),
        "sequence_length": 32, "epochs": 1, "max_train_examples": 64, "verbose": 0,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config))
    assert main(["finetune", "--config", str(tmp_path / "cfg.yaml"), "--set", "pooling=mean"]) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.models.load_model(tmp_path / "run" / "best.keras")
    # The pooler a mean-pooling head never runs is left out of training, and so out of the
    # optimizer, consistently: the saved optimizer state fits the reloaded model.
    assert not any("Skipping variable loading" in str(w.message) for w in caught)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert model.tokenizer.lowercase is False  # the folder's tokenizer, not a default one
    assert model.backbone.num_segments == 2 and model.backbone.use_pooler
    before = keras.ops.convert_to_numpy(bert.token_embedding.embeddings)
    after = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    assert not np.array_equal(before, after)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0 <= results["dev"]["accuracy"] <= 1
    # The folder's tokenizer goes with its weights: another vocabulary is refused.
    (tmp_path / "other.txt").write_text("\n".join(tokenizer.get_vocabulary()))
    with pytest.raises(ValueError, match="`vocabulary` with a Hugging Face folder"):
        knlm.training.FinetuneConfig(**{**config, "vocabulary": str(tmp_path / "other.txt")})


def test_moving_average_of_the_weights_is_evaluated_and_kept(pretrained, tmp_path):
    path, original = pretrained
    config = dict(
        task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
        backbone=path, sequence_length=48, epochs=1, learning_rate=1e-3,
        max_train_examples=320, verbose=0,
    )
    moved = {}
    for name, momentum in [("plain", None), ("averaged", 0.999999)]:
        output = tmp_path / name
        model, results = knlm.training.finetune(knlm.training.FinetuneConfig(
            **config, output_dir=str(output), ema_momentum=momentum))
        assert model.optimizer.use_ema == (momentum is not None)
        before, after = weights_by_path(original), weights_by_path(model.backbone)
        moved[name] = max(np.abs(after[n] - before[n]).max() for n in before)
        # What was checkpointed is what the epoch's validation scored.
        history = (output / "history.csv").read_text().splitlines()
        logged = dict(zip(history[0].split(","), history[-1].split(",")))
        assert float(logged["val_accuracy"]) == pytest.approx(results["dev"]["accuracy"])
    # So slow an average stays by the weights of the first step, which ten steps left behind.
    assert moved["averaged"] < 0.2 * moved["plain"]
    with pytest.raises(ValueError, match="`ema_momentum` must be in"):
        knlm.training.FinetuneConfig(**config, output_dir=str(tmp_path), ema_momentum=1.0)


def test_frozen_embeddings_and_lower_blocks_with_layerwise_decay(pretrained, tmp_path):
    path, original = pretrained
    config = knlm.training.FinetuneConfig(
        task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
        output_dir=str(tmp_path), backbone=path, sequence_length=48, epochs=1,
        learning_rate=1e-3, max_train_examples=320, freeze_embeddings=True, freeze_layers=1,
        layer_decay=0.8, verbose=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _ = knlm.training.finetune(config)  # the model reloaded from best.keras
    assert isinstance(model.optimizer, knlm.training.LayerwiseDecayAdamW)
    # Still frozen after the reload, so the saved optimizer state (10 steps) fits it again.
    assert not model.backbone.embedding.trainable and not model.backbone.encoder_layers[0].trainable
    assert model.backbone.encoder_layers[1].trainable
    assert not any("Skipping variable loading for optimizer" in str(w.message) for w in caught)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 10
    before, after = weights_by_path(original), weights_by_path(model.backbone)
    for name in before:
        frozen = name.startswith(("embedding/", "token_embedding/", "encoder_0/"))
        assert np.array_equal(before[name], after[name]) == frozen, name


def test_token_classification_from_the_command_line(tokenizer, tmp_path, capsys):
    config = {
        "task": "token_classification", "train": samples.wnut17("train"),
        "dev": samples.wnut17("dev"), "output_dir": str(tmp_path / "ner"),
        "vocabulary": samples.vocabulary(), "sequence_length": 64, "epochs": 2,
        "max_train_examples": 256,
        "learning_rate": 2e-3, "verbose": 0, **TINY,
    }
    path = tmp_path / "ner.yaml"
    path.write_text(yaml.safe_dump(config))
    # `1e-3` has no dot: YAML reads it as a string, which a float setting still accepts.
    assert main(["finetune", "--config", str(path), "--set", "epochs=1",
                 "--set", "learning_rate=1e-3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["dev"]) >= {"entity_precision", "entity_recall", "entity_f1", "loss"}
    model = keras.models.load_model(tmp_path / "ner" / "best.keras")
    assert isinstance(model, knlm.models.TokenClassifier) and "B-person" in model.tags

    # `kerasnlm evaluate` on the output folder scores the kept model as the run did.
    assert main(
        ["evaluate", "--model", str(tmp_path / "ner"), "--data", samples.wnut17("dev")]
    ) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["entity_f1"] == pytest.approx(printed["dev"]["entity_f1"], abs=1e-9)
    assert scores["loss"] == pytest.approx(printed["dev"]["loss"], rel=1e-5)
    # With the run's config, whose training file has gone since: only its reading settings.
    moved = tmp_path / "moved.yaml"
    moved.write_text(yaml.safe_dump({**config, "train": str(tmp_path / "gone.conll")}))
    assert main(["evaluate", "--model", str(tmp_path / "ner" / "best.keras"), "--config",
                 str(moved), "--data", samples.wnut17("dev")]) == 0
    with_config = json.loads(capsys.readouterr().out)
    assert with_config["entity_f1"] == pytest.approx(scores["entity_f1"], abs=1e-9)

    # A dev file whose tags the training file never uses: refused, naming the tag.
    words, tags = knlm.data.read_conll(samples.wnut17("dev"))
    odd = tmp_path / "odd.conll"
    odd.write_text("Paris\tB-city\nis\tO\n\n", encoding="utf-8")
    assert main(["finetune", "--config", str(path), "--set", f"dev={odd}"]) == 2
    assert "has tags the training file does not: ['B-city']" in capsys.readouterr().err


def test_text_pairs_with_labels_that_read_as_ints_in_one_file_and_strs_in_another(tmp_path):
    texts, labels = knlm.data.read_tsv(samples.sst2("train"))
    rows = ["sentence\tsecond\tlabel"]
    rows += [f"{t}\t{t.split()[0]}\t{'unsure' if i % 50 == 0 else label}"
             for i, (t, label) in enumerate(zip(texts[:400], labels[:400]))]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    rows = ["sentence\tsecond\tlabel"] + [f"{t}\t{t.split()[0]}\t{label}"
                                           for t, label in zip(texts[400:464], labels[400:464])]
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = knlm.training.FinetuneConfig(
        task="classification", train=str(tmp_path / "train.tsv"), dev=str(tmp_path / "dev.tsv"),
        output_dir=str(tmp_path / "out"), text_pair_column="second",
        vocabulary=samples.vocabulary(), sequence_length=48, epochs=1, verbose=0, **TINY,
    )
    model, results = knlm.training.finetune(config)
    assert model.labels == ["0", "1", "unsure"]  # numbers in numeric order, then words
    assert 0 <= results["dev"]["accuracy"] <= 1
    prediction = model.predict([texts[0]])[0]
    assert prediction["label"] in model.labels and len(prediction["probabilities"]) == 3
    # evaluate_file reads the file with the run's columns and scores it as the run did.
    scores = knlm.training.evaluate_file(
        model, str(tmp_path / "dev.tsv"), text_pair_column="second", sequence_length=48)
    assert scores["accuracy"] == pytest.approx(results["dev"]["accuracy"], abs=1e-9)
    with pytest.raises(ValueError, match="Unknown settings for evaluation: \\['epochs'\\]"):
        knlm.training.evaluate_file(model, str(tmp_path / "dev.tsv"), epochs=2)
    with pytest.raises(TypeError, match="received a TransformerBackbone"):
        knlm.training.evaluate_file(model.backbone, str(tmp_path / "dev.tsv"))


def test_seq2seq_reports_bleu_on_dev(tmp_path):
    english, spanish = knlm.data.read_parallel(samples.spa_eng())
    dev = tmp_path / "dev.txt"
    dev.write_text("".join(f"{e}\t{s}\n" for e, s in zip(english[-40:], spanish[-40:])), "utf-8")
    config = knlm.training.FinetuneConfig(
        task="seq2seq", train=samples.spa_eng(), dev=str(dev), output_dir=str(tmp_path / "mt"),
        vocabulary_size=800, target_vocabulary_size=800, sequence_length=24, epochs=1,
        learning_rate=1e-3, max_train_examples=128, bleu_examples=20, verbose=0,
        num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64, bucket_by_length=True,
        pad_to_multiple_of=8, beam_bleu=True,
    )
    model, results = knlm.training.finetune(config)
    assert 0 <= results["dev"]["bleu_beam"] <= 100
    assert isinstance(model, knlm.models.Seq2SeqTransformer)
    assert not model.shares_embedding and model.target_tokenizer is not None
    assert 0 <= results["dev"]["bleu"] <= 100 and results["dev"]["bleu_examples"] == 20
    assert os.path.exists(tmp_path / "mt" / "target_vocab.txt")


def test_bad_configurations(pretrained, tmp_path):
    path, _ = pretrained
    base = dict(task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
                output_dir=str(tmp_path), verbose=0, max_train_examples=64)
    with pytest.raises(ValueError, match="`task` must be one of"):
        knlm.training.FinetuneConfig(**{**base, "task": "ner"})
    with pytest.raises(ValueError, match="is for `task` classification or seq2seq; received "
                                         "task 'token_classification'"):
        knlm.training.FinetuneConfig(**{
            **base, "task": "token_classification", "train": samples.wnut17("train"),
            "dev": samples.wnut17("dev"), "bucket_by_length": True})
    with pytest.raises(ValueError, match="`bucket_by_length: true` needs `pad_to_multiple_of`"):
        knlm.training.FinetuneConfig(**base, bucket_by_length=True, pad_to_multiple_of=None)
    with pytest.raises(FileNotFoundError, match="`train`: no file at"):
        knlm.training.FinetuneConfig(**{**base, "train": str(tmp_path / "missing.tsv")})
    with pytest.raises(ValueError, match="exceeds the pretrained backbone's \\(48\\)"):
        knlm.training.finetune(knlm.training.FinetuneConfig(**base, backbone=path))
    with pytest.raises(ValueError, match="`freeze_layers` must be in \\[0, 2\\]"):
        knlm.training.finetune(knlm.training.FinetuneConfig(
            **base, backbone=path, sequence_length=48, freeze_layers=3))
    small = knlm.tokenizers.WordPieceTokenizer.train(samples.english_text("valid"), 300)
    small.save_vocabulary(str(tmp_path / "small.txt"))
    with pytest.raises(ValueError, match="does not match the backbone's `vocabulary_size`"):
        knlm.training.finetune(knlm.training.FinetuneConfig(
            **base, backbone=path, sequence_length=48, vocabulary=str(tmp_path / "small.txt")))
    alone = tmp_path / "alone"
    alone.mkdir()
    keras.models.load_model(path).save(alone / "backbone.keras")
    with pytest.raises(FileNotFoundError, match="no vocab.txt beside"):
        knlm.training.finetune(knlm.training.FinetuneConfig(
            **base, backbone=str(alone / "backbone.keras"), sequence_length=48))


def test_precision_and_strategy_from_the_command_line(pretrained, tmp_path, capsys):
    """`--precision mixed_bfloat16` loads the float32 pretrained weights into a bfloat16 backbone
    (the same weights, computed in bfloat16) and the kept model is saved as such; a crash-free
    run leaves no backup folder behind."""
    path, original = pretrained
    config = {
        "task": "classification", "train": samples.sst2("train"), "dev": samples.sst2("dev"),
        "output_dir": str(tmp_path / "out"), "backbone": path, "sequence_length": 48,
        "epochs": 1, "max_train_examples": 64, "learning_rate": 1e-9, "verbose": 0,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config))
    assert main(["finetune", "--config", str(tmp_path / "cfg.yaml"), "--strategy", "default",
                 "--precision", "mixed_bfloat16"]) == 0
    model = keras.models.load_model(tmp_path / "out" / "best.keras")
    assert model.backbone.dtype_policy.name == model.dtype_policy.name == "mixed_bfloat16"
    before, after = weights_by_path(original), weights_by_path(model.backbone)
    assert all(np.allclose(before[p], after[p], atol=1e-6) for p in before)  # learning rate 1e-9
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["config"]
    assert (saved["strategy"], saved["precision"]) == ("default", "mixed_bfloat16")
    assert not (tmp_path / "out" / "backup").exists()
    with pytest.raises(SystemExit) as exit:
        main(["finetune", "--config", str(tmp_path / "cfg.yaml"), "--precision", "fp8"])
    assert exit.value.code == 2 and "invalid choice: 'fp8'" in capsys.readouterr().err


def test_a_new_task_kind_is_one_registered_class(tmp_path):
    @knlm.training.register_task
    class ClassificationByLoss(knlm.training.tasks.Classification):
        name = "classification_by_loss"
        monitor = ("val_loss", "min")

    try:
        config = knlm.training.FinetuneConfig(
            task="classification_by_loss", train=samples.sst2("train"),
            dev=samples.sst2("dev"), output_dir=str(tmp_path), vocabulary=samples.vocabulary(),
            sequence_length=32, epochs=1, max_train_examples=64, verbose=0, **TINY,
        )
        model, results = knlm.training.finetune(config)
    finally:
        del knlm.training.TASKS["classification_by_loss"]
    assert isinstance(model, knlm.models.SequenceClassifier)
    assert {"loss", "accuracy"} <= set(results["dev"])
    with pytest.raises(ValueError, match="`task` must be one of"):
        knlm.training.FinetuneConfig(**{**config.__dict__, "task": "classification_by_loss"})


def test_the_registry_builds_the_model_finetune_builds(tokenizer):
    backbone = knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 32, **TINY)
    encoders = knlm.training.Encoders(tokenizer, names=["O", "B-person", "I-person"])
    tagging = knlm.training.TASKS["token_classification"]
    tagger = tagging.build_model(backbone, encoders, dropout=0.2)
    assert isinstance(tagger, knlm.models.TokenClassifier) and tagger.backbone is backbone
    assert (tagger.tags, tagger.dropout, tagger.tokenizer) == (encoders.names, 0.2, tokenizer)
    assert tagging.monitor == ("val_entity_f1", "max")
    assert [type(c).__name__ for c in tagging.callbacks([["Bob"]], [["B-person"]])] == [
        "EntityF1"
    ]
    assert knlm.training.TASKS["seq2seq"].monitor == ("val_loss", "min")
