"""`kerasnlm export` then `kerasnlm predict`, from the command line."""

import io
import json

import keras
import numpy as np
import pytest

import kerasnlm as knlm
from kerasnlm.cli.main import main


@pytest.fixture(scope="module")
def saved_classifier(tokenizer, tmp_path_factory):
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        tokenizer.vocabulary_size, 24, num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64,
    )
    classifier = knlm.models.SequenceClassifier(
        backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"]
    )
    classifier.compile(learning_rate=1e-3)
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    classifier.fit(knlm.data.classification_dataset(
        texts[:64], labels[:64], tokenizer, 24, batch_size=16, num_classes=2, seed=0,
    ), verbose=0)
    folder = tmp_path_factory.mktemp("run")
    classifier.save(folder / "best.keras")  # as a finetune output folder holds it
    return classifier, folder


def json_lines(text):
    return [json.loads(line) for line in text.strip().splitlines()]


def test_export_then_predict_round_trip(saved_classifier, tmp_path, capsys, monkeypatch):
    classifier, folder = saved_classifier
    output = tmp_path / "served"
    assert main(["export", "--model", str(folder), "--output", str(output)]) == 0
    assert capsys.readouterr().out.strip() == str(output)

    texts = ["a wonderful , moving film", "a dull , lifeless mess", "Crème brûlée 😀", ""]
    assert main(["predict", "--model", str(output), *texts]) == 0
    from_export = json_lines(capsys.readouterr().out)
    expected = classifier.predict(texts)
    assert [row["text"] for row in from_export] == texts
    assert [row["label"] for row in from_export] == [row["label"] for row in expected]
    np.testing.assert_allclose(
        [row["score"] for row in from_export], [row["score"] for row in expected], atol=1e-5
    )

    # The .keras file itself, texts on standard input: the same rows.
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts) + "\n"))
    assert main(["predict", "--model", str(folder / "best.keras")]) == 0
    from_keras = json_lines(capsys.readouterr().out)
    assert [row["label"] for row in from_keras] == [row["label"] for row in from_export]
    np.testing.assert_allclose(
        [row["score"] for row in from_keras], [row["score"] for row in from_export], atol=1e-5
    )


def test_command_line_errors_are_one_line_and_exit_2(saved_classifier, tmp_path, capsys):
    _, folder = saved_classifier
    output = tmp_path / "served"
    output.mkdir()
    cases = [
        (["export", "--model", str(folder), "--output", str(output)], "overwrite"),
        (["export", "--model", str(tmp_path / "missing.keras"), "--output", str(tmp_path / "x")],
         "No model at"),
        (["predict", "--model", str(tmp_path), "text"], "neither a SavedModel folder"),
        (["predict", "--model", str(folder), "--signature", "tokenized", "text"],
         "does not take one text a row"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error
